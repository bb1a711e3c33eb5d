# shellcheck shell=bash
# Shared shell helpers of scripts/test, scripts/demo and scripts/benchmark. Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_DIR=${STALWART_VENV_DIR:-$ROOT/.venv}

say() { printf '\n==> %s\n' "$*"; }

# pip prints one warning per configured but absent local index on some machines; it is noise.
# The status is the command's own, not grep's: make_venv must see pip fail.
quiet_pip() {
    "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
    return "${PIPESTATUS[0]}"
}

# find_python VERSION: print the path of a pythonVERSION interpreter, or nothing.
find_python() {
    local version=$1 candidate
    for candidate in "$(command -v "python$version" 2>/dev/null || true)" \
        "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/$version".*/bin/"python$version"; do
        # a pyenv shim exists for every installed version but fails when that one is not selected
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import venv' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 0
}

# make_venv NAME PYTHON REQUIREMENTS: create or refresh $VENV_DIR/NAME; print its python path.
# The venv is rebuilt only when the requirements file changed since it was made.
# Callers run it inside $(...), where bash ignores set -e: every step returns on failure itself,
# and the stamp, which marks the venv as good for reuse, is written only after all of them passed.
make_venv() {
    local python=$2 requirements=$3 dir="$VENV_DIR/$1" stamp
    stamp=$(cat "$requirements" "$ROOT/requirements.txt" | sha256sum | cut -c1-16) || return 1
    if [ ! -f "$dir/.stamp" ] || [ "$(cat "$dir/.stamp")" != "$stamp" ]; then
        rm -rf "$dir" || return 1
        if ! { "$python" -m venv "$dir" >&2 &&
            quiet_pip "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2 &&
            quiet_pip "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
                -r "$requirements" -r "$ROOT/requirements.txt" >&2; }; then
            echo "could not make the virtualenv $dir (from $requirements); it is left without a stamp," \
                "so the next run builds it again" >&2
            return 1
        fi
        echo "$stamp" >"$dir/.stamp" || return 1
    fi
    echo "$dir/bin/python"
}

# collection_tree DEST: copy the collection (tracked and new, not ignored files) to
# DEST/ansible_collections/stalwart/mail, where ansible-test and ansible-galaxy expect it.
collection_tree() {
    local dest="$1/ansible_collections/stalwart/mail"
    mkdir -p "$dest"
    if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$ROOT" && git ls-files -co --exclude-standard | while IFS= read -r f; do [ -e "$f" ] && echo "$f"; done | tar -T - -cf -) | tar -xf - -C "$dest"
    else
        (cd "$ROOT" && tar --exclude=./.venv --exclude=./.cache --exclude=./tests/output -cf - .) | tar -xf - -C "$dest"
    fi
    echo "$dest"
}
