"""Speed-ups of the local AWS that change no behaviour (unlike the fidelity patches, which restore
what AWS documents): loaded only by the launcher (moto_launcher.py), before the server starts.

- `moto.backends.list_of_moto_modules`: moto 5.2.1's server calls it for every request, twice, inside
  the dispatcher's one global lock (werkzeug_app.DomainDispatcherApplication.get_application ->
  get_backend_for_host), and it lists moto's package directory and `stat`s each of its ~200
  entries each time — a fifth of the CPU a custody PUT costs the server, serialised across every
  request thread (measured with CLEANROOM_LOCAL_AWS_PROFILE, docs/local-aws.md). The directory does
  not change while the server runs, so it is listed once: the same names, in the same order.
"""


def apply() -> list:
    from moto import backends

    names = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules():  # type: ignore[no-untyped-def]
        return names

    backends.list_of_moto_modules = list_of_moto_modules
    return ["list_of_moto_modules_once"]
