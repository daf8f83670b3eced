# Sourced by ./run and ./test: make .venv inside the checkout and install what a
# requirements file lists into it, with Linli itself (editable: the `linli` command), when
# that file has changed since it was last installed.
#
# One stamp for both (.venv/.installed): a line per requirements file with the digest it
# was installed at. ./test installs requirements-dev.txt, which includes requirements.txt,
# so both lines are written and a later ./run installs nothing.
ensure_venv() {
  local requirements="$1"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Linli needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating a virtual environment in .venv (with $("$python" --version)) ..."
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed"
  local wanted
  wanted=$(_digest "$requirements")
  if ! grep -qxF "$requirements $wanted" "$stamp" 2>/dev/null; then
    local count
    count=$(grep -cvE '^\s*(#|-r|$)' requirements*.txt | awk -F: '{s += $2} END {print s}')
    echo "Installing $requirements into .venv: Linli, $count pinned packages and what they need."
    echo "The first time takes a few minutes (downloads, then builds); pip shows each step."
    if ! .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on \
      --upgrade pip || ! .venv/bin/python -m pip install --disable-pip-version-check \
      --progress-bar on -r "$requirements" -e .; then
      echo "Installing $requirements failed (pip says why above)." >&2
      exit 1
    fi
    {
      grep -v -e "^$requirements " -e "^requirements.txt " "$stamp" 2>/dev/null || true
      echo "$requirements $wanted"
      # requirements-dev.txt includes the runtime list: that is installed now too.
      if [ "$requirements" = requirements-dev.txt ]; then
        echo "requirements.txt $(_digest requirements.txt)"
      fi
    } > "$stamp.new"
    mv "$stamp.new" "$stamp"
    echo "Installed."
  fi
}

# What decides whether an install is current: the file, the files it includes, and the
# package's own metadata (its dependencies and its `linli` command).
_digest() {
  local files=("$1" pyproject.toml)
  [ "$1" = requirements-dev.txt ] && files+=(requirements.txt)
  cat "${files[@]}" | sha256sum | cut -d' ' -f1
}
