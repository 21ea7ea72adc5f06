// tfckpt completion bash|zsh|fish, and tfckpt man: a shell completion script and the manual page,
// both made from the command definitions themselves (every subcommand, option and description
// registered with CLI11), so they never fall behind the commands.

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {
namespace {

// What the scripts and the page need of one option.
struct OptionInfo {
  std::vector<std::string> names;  // "--json", "-o", ...
  std::string positional;          // "CKPT" for a positional argument
  bool takes_value = false;
  std::string description;
};

struct CommandInfo {
  std::string name, description;
  std::vector<OptionInfo> options;
};

std::vector<CommandInfo> Commands(const CLI::App& app) {
  std::vector<CommandInfo> out;
  // The options of the whole program (--endpoint, ...) are accepted after every command too.
  std::vector<const CLI::Option*> global;
  for (const CLI::Option* o : app.get_options()) {
    if (!o->get_positional() && o->get_name() != "--help" && o->get_name() != "--version") {
      global.push_back(o);
    }
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    CommandInfo c{sub->get_name(), sub->get_description(), {}};
    std::vector<const CLI::Option*> options = sub->get_options();
    options.insert(options.end(), global.begin(), global.end());
    for (const CLI::Option* o : options) {
      OptionInfo info;
      if (o->get_positional()) {
        info.positional = o->get_name(true, false);
      } else {
        for (const std::string& l : o->get_lnames()) info.names.push_back("--" + l);
        for (const std::string& s : o->get_snames()) info.names.push_back("-" + s);
        info.takes_value = o->get_items_expected_min() > 0;
      }
      info.description = o->get_description();
      c.options.push_back(std::move(info));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string Bash(const std::vector<CommandInfo>& commands) {
  std::vector<std::string> names;
  std::string cases;
  for (const CommandInfo& c : commands) {
    names.push_back(c.name);
    std::vector<std::string> opts, valued;
    for (const OptionInfo& o : c.options) {
      for (const std::string& n : o.names) {
        opts.push_back(n);
        if (o.takes_value) valued.push_back(n);
      }
    }
    cases += fmt::format("    {}) opts=\"{}\"; valued=\" {} \";;\n", c.name, fmt::join(opts, " "),
                         fmt::join(valued, " "));
  }
  return fmt::format(
      R"(# bash completion for tfckpt, made by `tfckpt completion bash` from its command
# definitions. Load it with: source <(tfckpt completion bash)
_tfckpt() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "{} --help --version" -- "$cur"))
    return
  fi
  local opts="" valued="" IFS=$'\n'
  case "${{COMP_WORDS[1]}}" in
{}  esac
  if [[ "${{COMP_WORDS[1]}}" == completion && "$cur" != -* ]]; then
    COMPREPLY=($(IFS=' '; compgen -W "bash zsh fish" -- "$cur"))
  elif [[ "$valued" == *" $prev "* || "$cur" != -* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))  # (one name a line: a space stays in its name)
  else
    COMPREPLY=($(IFS=' '; compgen -W "$opts" -- "$cur"))
  fi
}}
complete -o filenames -o bashdefault -F _tfckpt tfckpt
)",
      fmt::join(names, " "), cases);
}

std::string FishQuote(const std::string& s) {
  std::string out = "'";
  for (char c : FirstLine(s)) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string Fish(const std::vector<CommandInfo>& commands) {
  std::string out =
      "# fish completion for tfckpt, made by `tfckpt completion fish` from its command "
      "definitions.\n# Load it with: tfckpt completion fish | source\n"
      "complete -c tfckpt -e\n";
  for (const CommandInfo& c : commands) {
    out += fmt::format("complete -c tfckpt -f -n __fish_use_subcommand -a {} -d {}\n", c.name,
                       FishQuote(c.description));
  }
  for (const CommandInfo& c : commands) {
    for (const OptionInfo& o : c.options) {
      std::string flags;
      for (const std::string& n : o.names) {
        flags += n.rfind("--", 0) == 0 ? " -l " + n.substr(2) : " -s " + n.substr(1);
      }
      if (flags.empty()) continue;
      out += fmt::format("complete -c tfckpt -n '__fish_seen_subcommand_from {}'{}{} -d {}\n",
                         c.name, flags, o.takes_value ? " -r" : "", FishQuote(o.description));
    }
  }
  out += "complete -c tfckpt -f -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n";
  return out;
}

// Text for troff: backslashes escaped, no line starting with a control character.
std::string Roff(const std::string& s) {
  std::string out;
  bool line_start = true;
  for (char c : s) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

std::string Man(const CLI::App& app, const std::vector<CommandInfo>& commands) {
  std::string out = fmt::format(
      ".TH TFCKPT 1 \"\" \"tfckpt {}\" \"User Commands\"\n.SH NAME\ntfckpt \\- inspect, verify, "
      "compare, merge, transfer and edit TensorFlow checkpoints without TensorFlow\n"
      ".SH SYNOPSIS\n.B tfckpt\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]\n"
      ".SH DESCRIPTION\n{}\n.SH COMMANDS\n",
      TFCKPT_VERSION, Roff(app.get_description()));
  for (const CommandInfo& c : commands) {
    std::vector<std::string> positionals;
    for (const OptionInfo& o : c.options) {
      if (!o.positional.empty()) positionals.push_back(o.positional);
    }
    out += fmt::format(".SS \"tfckpt {}{}{}\"\n{}\n", c.name, positionals.empty() ? "" : " ",
                       Roff(fmt::format("{}", fmt::join(positionals, " "))), Roff(c.description));
    for (const OptionInfo& o : c.options) {
      const std::string head =
          o.positional.empty()
              ? fmt::format("\\fB{}\\fR{}", Roff(fmt::format("{}", fmt::join(o.names, ", "))),
                            o.takes_value ? " \\fIVALUE\\fR" : "")
              : fmt::format("\\fI{}\\fR", Roff(o.positional));
      out += fmt::format(".TP\n{}\n{}\n", head, Roff(o.description));
    }
  }
  out +=
      ".SH EXIT STATUS\n.TP\n0\nsuccess\n.TP\n1\nverify found a problem, diff found a difference, "
      "or stats \\-\\-check\\-finite found NaN or Inf\n.TP\n2\nbad input or usage (the message "
      "says what was wrong and what to do)\n.TP\n3\ninternal error\n"
      ".SH SEE ALSO\nThe README of the project, and \\fBtfckpt COMMAND \\-\\-help\\fR.\n";
  return out;
}

}  // namespace

void RegisterCompletion(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "completion", "Print a shell completion script: source <(tfckpt completion bash)");
  cmd->add_option("SHELL", *shell, "bash, zsh or fish")->required();
  const CLI::App* root = &app;
  cmd->callback([root, shell] {
    const std::vector<CommandInfo> commands = Commands(*root);
    if (*shell == "bash") {
      fmt::print("{}", Bash(commands));
    } else if (*shell == "zsh") {  // zsh runs the bash script through its bash emulation
      fmt::print("#compdef tfckpt\nautoload -U +X bashcompinit && bashcompinit\n{}",
                 Bash(commands));
    } else if (*shell == "fish") {
      fmt::print("{}", Fish(commands));
    } else {
      ReportError(Status::InvalidArgument(
          fmt::format("no completion for the shell '{}'; choose bash, zsh or fish", *shell)));
    }
  });
  CLI::App* man = app.add_subcommand("man", "Print the manual page (troff): tfckpt man | man -l -");
  man->callback([root] { fmt::print("{}", Man(*root, Commands(*root))); });
}

}  // namespace tfckpt::cli
