"""The `tfckpt` command of an installed package.

The command line is a native program that the package carries as tfckpt/bin/tfckpt. pip makes
main() the `tfckpt` script, so the program is found beside this module wherever pip put the two:
a virtual environment, --user, --prefix or --target. This module stands outside the package so
that running the command does not import it (nor numpy).
"""

import os
import signal
import sys


def main():
    program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tfckpt", "bin", "tfckpt")
    # Python ignores SIGPIPE and SIGXFSZ; the program expects their defaults (`tfckpt show ... |
    # head` ends quietly), and exec keeps what is ignored.
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execv(program, ["tfckpt"] + sys.argv[1:])
    except OSError as exc:
        sys.stderr.write("tfckpt: error: cannot run %s (%s); reinstall the package (pip install "
                         "--force-reinstall tfckpt)\n" % (program, exc.strerror))
        sys.exit(2)
