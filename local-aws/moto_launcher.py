"""Start moto 5.2.1 in server mode on a loopback port chosen by the OS, over TLS, and print
{"port", "pid", "patches"} as one JSON line.

Used by the test harness and the demo (scripts/demo) so both run against the same local AWS.

Why TLS: the evidence vault's bucket policy refuses every request that is not over TLS
(aws:SecureTransport), as AWS recommends; against plain http the vault would (rightly) refuse all
custody writes. The certificate is signed by a local test CA (created once with --init-ca) that the
Node processes trust through NODE_EXTRA_CA_CERTS.

Fidelity patches (fidelity_patches.py, patches/*.py) are applied before the server starts; each one
makes moto do what AWS documents, and each is covered by its own test.
"""
import argparse
import datetime
import ipaddress
import json
import os
import ssl
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _write_key_cert(key, cert, key_path, cert_path):
    from cryptography.hazmat.primitives import serialization

    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def init_ca(ca_dir: str) -> str:
    """Create the local test CA (idempotent); return the path of its certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(ca_dir, exist_ok=True)
    cert_path = os.path.join(ca_dir, "ca.pem")
    key_path = os.path.join(ca_dir, "ca.key")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cleanroom local AWS test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key_cert(key, cert, key_path, cert_path)
    return cert_path


def leaf_context(ca_dir: str) -> ssl.SSLContext:
    """A server context with a fresh certificate for 127.0.0.1/localhost signed by the test CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    init_ca(ca_dir)
    with open(os.path.join(ca_dir, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(ca_dir, "ca.pem"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    tmp = tempfile.mkdtemp(prefix="cleanroom-moto-")
    key_path, cert_path = os.path.join(tmp, "leaf.key"), os.path.join(tmp, "leaf.pem")
    _write_key_cert(key, cert, key_path, cert_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    # Also hand the pair to the fault proxy (it serves TLS with the same certificate).
    os.environ["CLEANROOM_LEAF_DIR"] = tmp
    return ctx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ca-dir", required=True, help="directory of the local test CA")
    parser.add_argument("--init-ca", action="store_true", help="only create the CA and print its path")
    args = parser.parse_args()
    if args.init_ca:
        print(init_ca(args.ca_dir))
        return

    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    import fidelity_patches

    # Where the local AWS keeps files of its own (unpacked Lambda code, Lambda logs): the harness
    # may choose it (CLEANROOM_LOCAL_AWS_STATE_DIR), else a fresh temporary directory.
    os.environ.setdefault("CLEANROOM_LOCAL_AWS_STATE_DIR", tempfile.mkdtemp(prefix="cleanroom-local-aws-"))
    # The CA the internal clients (Step Functions' integrations) and the Node Lambda runtime trust.
    os.environ["CLEANROOM_TEST_CA_CERT"] = init_ca(args.ca_dir)
    applied = fidelity_patches.apply()
    # Step Functions executions run their definition (moto's interpreter), as on AWS; without this,
    # moto answers a canned history and never runs a state.
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    app = DomainDispatcherApplication(create_backend_app)
    ctx = leaf_context(args.ca_dir)
    server = make_server("127.0.0.1", args.port, app, threaded=True, ssl_context=ctx)
    os.environ["MOTO_PORT"] = str(server.port)
    print(
        json.dumps(
            {
                "port": server.port,
                "pid": os.getpid(),
                "patches": applied,
                "leafDir": os.environ["CLEANROOM_LEAF_DIR"],
                "stateDir": os.environ["CLEANROOM_LOCAL_AWS_STATE_DIR"],
            }
        ),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
