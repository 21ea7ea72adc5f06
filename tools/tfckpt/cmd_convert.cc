// tfckpt convert: to and from safetensors and .npz, TF1 <-> TF2.

#include <fmt/format.h>

#include "commands.h"
#include "ops_common.h"
#include "progress_bar.h"
#include "tfckpt/convert.h"
#include "tfckpt/plan.h"

namespace tfckpt::cli {

void RegisterConvert(CLI::App& app) {
  struct Args {
    std::string src, out, output, max_shard_size, to_tf2;
    std::vector<std::string> rename, keep, drop, map;
    bool strip = false, skip = false, force = false, json = false, no_sync = false;
    bool quiet = false;
    bool to_tf1 = false, to_tf2_flag = false, dry_run = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Convert a TensorFlow checkpoint to safetensors or .npz (OUT ending in .safetensors or "
      ".npz), or back (SRC a .safetensors file, a *.safetensors.index.json, a directory of "
      "them, or a .npz).");
  cmd->add_option("SRC", args->src, "What to convert")->required();
  cmd->add_option("OUT", args->out, "Where to write it (or -o OUT)");
  cmd->add_option("-o,--output", args->output,
                  "Where to write it: a .safetensors or .npz file, or a checkpoint prefix; with "
                  "--to-tf1/--to-tf2 also a directory (an existing one, or a path ending in '/') "
                  "to write it in, named after SRC (--to-tf1) or --template (--to-tf2)");
  cmd->add_flag("--to-tf1", args->to_tf1,
                "TF2 checkpoint -> name-based checkpoint keyed by the variables' full names");
  cmd->add_flag("--to-tf2", args->to_tf2_flag,
                "Name-based (or TF2) SRC -> a TF2 checkpoint shaped like --template");
  cmd->add_option("--template", args->to_tf2,
                  "With --to-tf2: a TF2 checkpoint (or SavedModel) of the model; the output is it "
                  "with every variable whose full name SRC has taken from SRC. With a Keras OUT "
                  "(.keras, .weights.h5, .h5): a Keras file of the model, whose layout OUT takes, "
                  "with every weight SRC holds by the same name");
  cmd->add_option("--map", args->map,
                  "With --to-tf2, when the names differ: CKPT=TARGET maps SRC's names to the "
                  "template's full names, as transfer's --map does (scope/=other/, a=b, ...)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--rename", args->rename, "OLD=NEW, as for edit")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--keep", args->keep, "Keep only names matching this regex")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--drop", args->drop, "Drop names matching this regex")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_flag("--strip-optimizer", args->strip, "Drop optimizer slots and variables");
  cmd->add_flag("--skip-unsupported", args->skip,
                "Leave out tensors the target format cannot hold (listed in the summary)");
  cmd->add_option("--max-shard-size", args->max_shard_size,
                  "safetensors: write Hugging Face's sharded form with shards of at most this "
                  "size (e.g. 5GB, 500MiB); a Keras .weights.json output: the size of its "
                  ".weights.h5 shards");
  cmd->add_flag("--dry-run", args->dry_run,
                "With --to-tf1/--to-tf2: print the plan; write nothing");
  cmd->add_flag("--force", args->force, "Replace existing outputs");
  cmd->add_flag("--json", args->json, "Print the summary as JSON");
  cmd->add_flag("--no-sync", args->no_sync, "Skip fsync of the outputs");
  AddQuiet(cmd, &args->quiet);
  cmd->callback([args] {
    if (!args->output.empty() && !args->out.empty()) {
      ReportError(Status::InvalidArgument("give the output once: OUT or -o OUT"));
      return;
    }
    const std::string output = args->out.empty() ? args->output : args->out;
    if (output.empty()) {
      ReportError(Status::InvalidArgument("convert needs an output: OUT or -o OUT"));
      return;
    }
    const bool keras_out = output.ends_with(".keras") || output.ends_with(".h5") ||
                           output.ends_with(".hdf5") || output.ends_with(".weights.json");
    if (!args->to_tf2_flag && !args->to_tf2.empty() && !keras_out) {
      ReportError(Status::InvalidArgument(
          "--template goes with --to-tf2 (tfckpt convert --to-tf2 --template TF2_CKPT SRC -o OUT) "
          "or with a Keras output (tfckpt convert --template MODEL.keras SRC -o OUT.keras)"));
      return;
    }
    if (args->to_tf2_flag && args->to_tf2.empty()) {
      ReportError(Status::InvalidArgument(
          "--to-tf2 needs --template TF2_CKPT: a TF2 checkpoint (or SavedModel) of the model, "
          "e.g. written by tf.train.Checkpoint(model=model).save(...)"));
      return;
    }
    if (!args->map.empty() && !args->to_tf2_flag) {
      ReportError(Status::InvalidArgument(
          "--map goes with --to-tf2: tfckpt convert --to-tf2 --template TF2_CKPT SRC --map "
          "CKPT=TARGET -o OUT (or tfckpt transfer --into MODEL --from SRC --map CKPT=TARGET -o "
          "OUT)"));
      return;
    }
    if (args->to_tf1 || args->to_tf2_flag) {
      if (!args->rename.empty() || !args->keep.empty() || !args->drop.empty() || args->strip ||
          args->skip || !args->max_shard_size.empty()) {
        ReportError(Status::InvalidArgument(
            "--to-tf1/--to-tf2 take no name options; run `tfckpt edit` on the result"));
        return;
      }
      CommonArgs common;
      common.output = output;
      common.force = args->force;
      common.json = args->json;
      common.no_sync = args->no_sync;
      common.dry_run = args->dry_run;
      common.quiet = args->quiet;
      std::vector<std::pair<std::string, std::string>> map;
      for (const std::string& m : args->map) {
        if (!SplitMapping(m, "--map", &map.emplace_back())) return;
      }
      Plan plan;
      Status s = args->to_tf1 && args->to_tf2_flag
                     ? Status::InvalidArgument("give --to-tf1 or --to-tf2, not both")
                 : args->to_tf1 ? PlanToTf1(args->src, output, &plan)
                                : PlanToTf2(args->src, args->to_tf2, map, output, &plan);
      Run(s, plan, common);
      return;
    }
    if (args->dry_run) {
      ReportError(Status::InvalidArgument(
          "--dry-run applies to --to-tf1 and --to-tf2; `tfckpt ls SRC` shows what a format "
          "conversion would write"));
      return;
    }
    ConvertOptions co;
    for (const std::string& r : args->rename) {
      std::pair<std::string, std::string> m;
      if (!SplitMapping(r, "--rename", &m)) return;
      co.names.renames.push_back(m);
    }
    co.names.keep = args->keep;
    co.names.drop = args->drop;
    co.names.strip_optimizer = args->strip;
    co.keras_template = args->to_tf2;
    co.skip_unsupported = args->skip;
    co.overwrite = args->force;
    co.sync = !args->no_sync;
    if (!args->max_shard_size.empty()) {
      Status s = ParseByteSize(args->max_shard_size, &co.max_shard_bytes);
      if (!s.ok()) {
        ReportError(s);
        return;
      }
    }
    ConvertReport r;
    Status s;
    {
      ProgressBar bar("convert", !args->json && !args->quiet);  // (gone before any message)
      co.progress = bar.fn();
      s = Convert(args->src, output, co, &r);
    }
    if (!s.ok()) {
      ReportError(s);
      return;
    }
    if (args->json) {
      fmt::print("{}\n", r.ToJson());
      return;
    }
    std::string out =
        fmt::format("convert {} -> {}: {} tensors, {} bytes\n", r.from, r.to, r.tensors, r.bytes);
    for (const std::string& o : r.outputs) out += "wrote " + o + "\n";
    for (const auto& [name, dtype] : r.skipped) {
      out += fmt::format("skipped {} ({})\n", name, DTypeName(dtype));
    }
    for (const std::string& n : r.notes) out += "note: " + n + "\n";
    fmt::print("{}", out);
  });
}

}  // namespace tfckpt::cli
