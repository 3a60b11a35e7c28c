"""Start moto 5.2.1 in server mode on a loopback port chosen by the OS and print it as JSON.

Used by the test harness and the demo (scripts/demo) so both run against the same local AWS.
Fidelity patches (see fidelity_patches.py) are applied before the server starts; each one makes
moto do what AWS documents, and each is covered by its own test.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from werkzeug.serving import make_server  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402

import fidelity_patches  # noqa: E402


def main() -> None:
    host = "127.0.0.1"
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    applied = fidelity_patches.apply()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=True)
    os.environ["MOTO_PORT"] = str(server.port)
    print(json.dumps({"port": server.port, "pid": os.getpid(), "patches": applied}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
