// Recipes: one YAML file that describes a whole job (inputs, a pipeline of merge / transfer /
// edit / average / blend steps, and the output), checked before it runs and printable as a dry
// run. Errors name the file and line. See docs/RECIPES.md for the format.
//
// Thread-safety: ApplyRecipe is self-contained; it may run concurrently with other calls that
// write elsewhere.

#ifndef TFCKPT_RECIPE_H_
#define TFCKPT_RECIPE_H_

#include <optional>
#include <string>

#include "tfckpt/plan.h"
#include "tfckpt/status.h"

namespace tfckpt {

struct RecipeOptions {
  std::optional<std::string> output;  // overrides the recipe's `output`
  bool dry_run = false;               // describe every step; write nothing
  ExecuteOptions execute;
};

// Runs (or describes) the recipe at `path`. `report` receives one block per step.
Status ApplyRecipe(const std::string& path, const RecipeOptions& options, std::string* report);

}  // namespace tfckpt

#endif  // TFCKPT_RECIPE_H_
