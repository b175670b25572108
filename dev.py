#!/usr/bin/env python3
"""Set-up and the everyday commands, with nothing but Python 3.11 and pip on the machine.

    python3 dev.py run     # the service on http://127.0.0.1:5000 (local database under ./data)
    python3 dev.py test    # every test
    python3 dev.py bench   # the benchmark; prints figures, never fails

Each command first makes ./.venv and installs requirements-dev.txt into it when that changed.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".requirements.sha256"
REQUIREMENT_FILES = ("requirements.txt", "requirements-dev.txt")


def requirements_digest():
    digest = hashlib.sha256()
    for name in REQUIREMENT_FILES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv():
    if not PYTHON.exists():
        print("dev.py: creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = requirements_digest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("dev.py: installing requirements-dev.txt into .venv", flush=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        "-r", str(ROOT / "requirements-dev.txt")], check=True)
        STAMP.write_text(wanted)


BROWSER_PACKAGES = ("chromium", "chromium-driver")


def ensure_browser():
    """Headless Chromium and its driver for the browser tests, from Debian, when we may install them."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("dev.py: chromium/chromedriver are missing and cannot be installed here; "
              "the browser tests will be skipped (apt-get install chromium chromium-driver)", flush=True)
        return
    print("dev.py: installing chromium and chromium-driver (Debian packages) for the browser tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *BROWSER_PACKAGES], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        # Every other test can still run; the browser tests then skip and say why.
        print(f"dev.py: WARNING: could not install {' '.join(BROWSER_PACKAGES)} ({exc}); "
              "the browser tests will be skipped", flush=True)


def ensure_node():
    """Node (for the browser client's unit tests) from Debian where we may install it, and TypeScript
    (tests/js/package.json, for checking logstore.d.ts) whenever its lock file changed."""
    if not (shutil.which("node") and shutil.which("npm")) and os.geteuid() == 0 and shutil.which("apt-get"):
        print("dev.py: installing nodejs and npm (Debian packages) for the browser client's tests", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "nodejs", "npm"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError as exc:
            print(f"dev.py: WARNING: could not install nodejs and npm ({exc}); the Node tests will be skipped",
                  flush=True)
    if not shutil.which("npm"):
        print("dev.py: no npm here: the TypeScript check of logstore.d.ts will be skipped", flush=True)
        return
    js = ROOT / "tests" / "js"
    stamp = js / "node_modules" / ".lock.sha256"
    wanted = hashlib.sha256((js / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print("dev.py: installing tests/js/package.json (TypeScript) with npm", flush=True)
    try:
        subprocess.run(["npm", "ci", "--prefix", str(js), "--no-audit", "--no-fund", "--loglevel=error"],
                       check=True)
        stamp.write_text(wanted)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"dev.py: WARNING: npm could not install tests/js ({exc}); the TypeScript check will be skipped",
              flush=True)


def main(argv):
    if len(argv) < 1 or argv[0] not in ("run", "test", "bench", "setup"):
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "setup":
        return 0
    if command == "run":
        args = [str(PYTHON), "app.py", *rest]
    elif command == "test":
        ensure_browser()
        ensure_node()
        args = [str(PYTHON), "-m", "pytest", *rest]
    else:
        args = [str(PYTHON), "-m", "bench", *rest]
    os.execv(args[0], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
