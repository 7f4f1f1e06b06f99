"""The CA maker of the test suites: a test CA and the certificates it
signs, made with the openssl command in a folder.

    ca = CA(folder)                       # folder/ca.pem, folder/ca.key
    ca.leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1")
    ca.pair("server")                     # (server.pem, server.key)
    ca.selfsigned("self", "localhost", "DNS:localhost")

Keys are ECDSA P-256; certificates last 3 days unless told (days="-1"
makes an expired one).  No openssl command: Skip (a failure under CI).
"""
import os
import shutil
import subprocess

from harness import Skip, expect

COMMAND_TIMEOUT = 60    # one openssl command


class CA:
    def __init__(self, folder, cn="etrn test CA"):
        if shutil.which("openssl") is None:
            raise Skip("no openssl command (apt-get install openssl)")
        self.dir = folder
        os.makedirs(folder, 0o755, exist_ok=True)
        os.chmod(folder, 0o755)
        self.ca = self.path("ca.pem")
        self._openssl("req", "-x509", "-new", *self._newkey("ca.key"),
                      "-out", "ca.pem", "-days", "3", "-subj", "/CN=" + cn,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.ca, 0o644)

    def path(self, name):
        return os.path.join(self.dir, name)

    def pair(self, name):
        """(certificate file, key file) of a certificate made here."""
        return self.path(name + ".pem"), self.path(name + ".key")

    @staticmethod
    def _newkey(keyfile):
        return ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", keyfile)

    def leaf(self, name, cn, san, days="3", eku="serverAuth"):
        """name.pem and name.key: a certificate for subjectAltName san,
        signed by the CA, for eku (serverAuth or clientAuth)."""
        self._openssl("req", "-new", *self._newkey(name + ".key"),
                      "-out", name + ".csr", "-subj", "/CN=" + cn)
        with open(self.path(name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=%s\n" % (san, eku))
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                      "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", name + ".pem", "-days", days,
                      "-extfile", name + ".ext")
        os.chmod(self.path(name + ".pem"), 0o644)
        return self.pair(name)

    def selfsigned(self, name, cn, san):
        """name.pem and name.key, signed by nobody but themselves."""
        self._openssl("req", "-x509", "-new", *self._newkey(name + ".key"),
                      "-out", name + ".pem", "-days", "3",
                      "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san)
        return self.pair(name)

    def _openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                           capture_output=True, timeout=COMMAND_TIMEOUT,
                           stdin=subprocess.DEVNULL)
        expect(p.returncode == 0, "openssl %s: exit %d: %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
