"""The manifest front end, behind one entry point: read a tunnels.yaml keeping every value's position
(`positions`), read the `.env` beside it and each --env-file (`dotenv`), render its templates (`templates`),
validate it against the JSON Schema (`schema`) and the rules a schema cannot say (`domain_checks`), and hand back
one `Manifest` whose problems all read `file:line:col: what; how to fix`.

    load(path)          the whole manifest, secrets rendered (ManifestError lists every problem)
    load_scope(path)    only the project name and the engines: enough to destroy, with no secret needed
    find_manifest()     where the manifest is when -f is not given (the dotfiles order)
    read_text(path)     the file's text, bounded, with one clear error
"""

from .loader import MAX_BYTES, Manifest, Tunnel, load, load_scope, read_text
from .locate import find_manifest

__all__ = ["MAX_BYTES", "Manifest", "Tunnel", "find_manifest", "load", "load_scope", "read_text"]
