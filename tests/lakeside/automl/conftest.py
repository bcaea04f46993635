import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def python3_kernel(tmp_path_factory):
    """The venv's ``python3`` kernel; installed into a private JUPYTER_PATH when missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    with pytest.MonkeyPatch.context() as patch:
        try:
            KernelSpecManager().get_kernel_spec("python3")
        except NoSuchKernel:
            prefix = tmp_path_factory.mktemp("jupyter")
            subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "python3"],
                           check=True, capture_output=True)
            patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        yield "python3"
