"""`tfckpt completion bash|zsh|fish` and `tfckpt man`: made from the command definitions, so
every command and option `--help` shows must be in them; the bash script is loaded into a real
bash and asked to complete, the page is rendered by groff."""

import os
import re
import shutil
import subprocess
import sys



def _commands(cli):
    """The subcommands and, for each, its long options, as `--help` lists them."""
    text = cli.run("--help").out
    names = re.findall(r"^  (\w+)\s", text.split("Subcommands:")[1], re.M)
    assert {"ls", "stats", "diff", "merge", "completion", "man"} <= set(names), text
    return {n: sorted(set(re.findall(r"^  (?:-\w,)?(--[\w-]+)", cli.run(n, "--help").out, re.M)))
            for n in names}


def _complete(cli, words):
    """COMPREPLY of the bash script for the command line `words` (the last word is completed)."""
    script = cli.run("completion", "bash").out
    quoted = " ".join("'%s'" % w for w in words)
    prog = "%s\nCOMP_WORDS=(%s); COMP_CWORD=%d; _tfckpt; printf '%%s\\n' \"${COMPREPLY[@]}\"" % (
        script, quoted, len(words) - 1)
    bash = shutil.which("bash")
    assert bash, "bash is needed to load the completion script"
    out = subprocess.run([bash, "--norc", "-c", prog], capture_output=True, text=True,
                         timeout=60, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


def test_bash_completes_commands_and_options(cli):
    commands = _commands(cli)
    assert sorted(_complete(cli, ["tfckpt", ""])) == sorted(list(commands) +
                                                           ["--help", "--version"])
    assert _complete(cli, ["tfckpt", "sta"]) == ["stats"]
    for name, options in commands.items():
        got = _complete(cli, ["tfckpt", name, "--"])
        assert set(options) <= set(got), (name, options, got)
    assert _complete(cli, ["tfckpt", "diff", "--pl"]) == ["--plot"]
    assert sorted(_complete(cli, ["tfckpt", "completion", ""])) == ["bash", "fish", "zsh"]
    # A value or an argument completes as a file name.
    here = os.path.basename(__file__)
    assert here in _complete(cli, ["tfckpt", "diff", "--plot", here[:8]])
    assert here in _complete(cli, ["tfckpt", "ls", here[:8]])


def test_bash_completes_names_with_spaces(cli, tmp_path):
    (tmp_path / "my model.ckpt-7.index").write_bytes(b"")
    got = _complete(cli, ["tfckpt", "ls", str(tmp_path / "my")])
    assert got == [str(tmp_path / "my model.ckpt-7.index")], got


def test_zsh_and_fish_scripts(cli):
    commands = _commands(cli)
    zsh = cli.run("completion", "zsh").out
    assert zsh.startswith("#compdef tfckpt") and "bashcompinit" in zsh and "_tfckpt()" in zsh
    fish = cli.run("completion", "fish").out
    for name, options in commands.items():
        assert "-a %s " % name in fish, name
        for o in options:
            assert re.search(r"__fish_seen_subcommand_from %s'.* -l %s\b" % (name, o[2:]), fish), \
                (name, o)
    proc = cli.run("completion", "tcsh", expect_rc=2)
    assert "bash, zsh or fish" in proc.err


def test_man_page(cli):
    page = cli.run("man").out
    assert page.startswith(".TH TFCKPT 1")
    for name, options in _commands(cli).items():
        assert '.SS "tfckpt %s' % name in page, name
        for o in options:
            assert o.replace("-", "\\-") in page, (name, o)
    groff = shutil.which("groff")
    assert groff, "groff renders the page (apt install groff-base)"
    out = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z"], input=page, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_man_page_built_and_installed(cli):
    """The build makes the page beside bin/ (build/man/tfckpt.1); `pip install .` puts it in
    the environment's share/man/man1."""
    if os.path.realpath(cli.path).startswith(os.path.realpath(sys.prefix) + os.sep):
        page = os.path.join(sys.prefix, "share", "man", "man1", "tfckpt.1")
    else:
        page = os.path.join(os.path.dirname(os.path.dirname(cli.path)), "man", "tfckpt.1")
    assert os.path.isfile(page), page
    with open(page) as f:
        assert f.read() == cli.run("man").out
