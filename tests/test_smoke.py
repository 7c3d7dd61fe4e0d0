import sys

import xemu


def test_import_does_not_load_torch():
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import sys, xemu; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_version():
    assert xemu.__version__ != "0+unknown"
