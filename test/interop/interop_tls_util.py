"""TLS pieces of the Python interop tests of uvws: the test certificates
(made by test/tls/make-certs.sh into $UVWS_TEST_CERTS), ssl contexts for
clients and servers, and echo-server started for wss://.
"""

import os
import ssl

from interop_util import EchoServer, fail


def cert_dir():
    path = os.environ.get("UVWS_TEST_CERTS")
    if not path or not os.path.isfile(os.path.join(path, "ca.crt")):
        fail("UVWS_TEST_CERTS does not name a directory of test certificates "
             "(ctest makes them with test/tls/make-certs.sh first)")
    return path


def cert(name):
    return os.path.join(cert_dir(), name)


def client_context(alpn=None):
    """A client context that trusts the test CA only and checks names."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=cert("ca.crt"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def server_context(name="server"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert(f"{name}.crt"), cert(f"{name}.key"))
    return ctx


class TLSEchoServer(EchoServer):
    """The echo-server example serving wss:// on a free port of HOST, with
    the test server certificate. Use with `async with`: the server is always
    stopped, and on a normal exit it must shut down with status 0 on
    SIGTERM."""

    SCHEME = "wss"

    def __init__(self, path, name="server"):
        super().__init__(path)
        self.name = name

    def extra_args(self):
        return ["--tls-cert", cert(f"{self.name}.crt"),
                "--tls-key", cert(f"{self.name}.key")]


