"""The tfckpt module itself: what it exports and its version."""

import re

import tfckpt


# ---------------------------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------------------------

def test_module_surface():
    assert isinstance(tfckpt.__version__, str) and re.match(r"^\d+\.\d+", tfckpt.__version__)
    assert issubclass(tfckpt.Error, Exception)
    for fn in ("open", "save", "Writer", "merge", "transfer", "edit", "average", "blend", "diff",
               "apply", "convert", "init_from_checkpoint", "objects", "to_tf1", "to_tf2"):
        assert callable(getattr(tfckpt, fn)), fn
        assert fn in tfckpt.__all__, fn
        assert getattr(tfckpt, fn).__doc__, fn


def test_version_matches_cli(cli):
    out = cli.run("--version").out.strip()
    assert out.split()[-1] == tfckpt.__version__, (out, tfckpt.__version__)
