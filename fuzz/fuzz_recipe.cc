// Fuzzes recipe files (YAML) through a dry run: parsing, validation and error reporting.

#include "fuzz/fuzz_util.h"
#include "tfckpt/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tfckpt::fuzz::ScratchDir() + "/recipe.yaml";
  tfckpt::fuzz::WriteFile(path, data, size);
  tfckpt::RecipeOptions options;
  options.dry_run = true;
  std::string report;
  (void)tfckpt::ApplyRecipe(path, options, &report);
  return 0;
}
