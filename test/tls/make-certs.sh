#!/bin/sh
# Makes the certificates of uvws's TLS tests with the openssl command line:
#
#   make-certs.sh OUTDIR
#
# Writes into OUTDIR (created if needed; keys never go into the source tree):
#   ca.crt ca.key            the test CA (EC P-256)
#   server.crt server.key    for localhost, 127.0.0.1 and ::1, signed by the CA
#   server-rsa.crt/.key      the same names with an RSA 2048 key
#   expired.crt/.key         signed by the CA, valid only in January 2020
#   notyet.crt/.key          signed by the CA, valid only from 2090
#   wrongname.crt/.key       signed by the CA for wrong.example and 10.9.8.7
#   selfsigned.crt/.key      for localhost and 127.0.0.1, signed by itself
#   badusage.crt/.key        for localhost and 127.0.0.1, signed by the CA,
#                            but for client authentication only
#   sha1.crt/.key            for localhost and 127.0.0.1, signed by the CA
#                            with SHA-1
#   client.crt/.key          a client certificate signed by the CA
#   client-other.crt/.key    a client certificate signed by another CA
#   chain.crt                server.crt followed by ca.crt
#
# Runs again only when the files are missing, older than this script, or
# made more than a week ago (the certificates are valid for 30 days).
set -eu

out="${1:?usage: make-certs.sh OUTDIR}"
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
mkdir -p "$out"
cd "$out"

stamp=.made
if [ -f "$stamp" ] && [ "$stamp" -nt "$script" ] && [ -f client-other.crt ] &&
   [ -n "$(find "$stamp" -mtime -7)" ]; then
  exit 0
fi
rm -f ./*.crt ./*.key ./*.csr ./*.cnf ./*.srl "$stamp"
rm -rf ca-db

ec_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$1" 2>/dev/null
}

# A CA: $1 name, $2 subject.
make_ca() {
  ec_key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$1.crt"
}

# Extensions of a leaf: $1 file, $2 extendedKeyUsage, $3 subjectAltName
# (may be empty).
leaf_ext() {
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$2"
    echo "authorityKeyIdentifier=keyid"
    if [ -n "$3" ]; then echo "subjectAltName=$3"; fi
  } >"$1"
}

# A leaf signed by a CA with openssl x509: $1 name, $2 subject, $3 CA name,
# $4 extendedKeyUsage, $5 subjectAltName, $6 key kind (ec or rsa), $7 the
# signature's hash (default sha256).
make_leaf() {
  if [ "${6:-ec}" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
      -out "$1.key" 2>/dev/null
  else
    ec_key "$1.key"
  fi
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  leaf_ext "$1.cnf" "$4" "$5"
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 30 "-${7:-sha256}" \
    -extfile "$1.cnf" -out "$1.crt" 2>/dev/null
}

# A leaf with chosen validity dates, through `openssl ca`: $1 name,
# $2 start date, $3 end date (YYYYMMDDHHMMSSZ).
make_dated_leaf() {
  mkdir -p ca-db
  : >ca-db/index.txt
  openssl rand -hex 8 >ca-db/serial
  cat >ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
CNF
  ec_key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=localhost" -out "$1.csr"
  leaf_ext "$1.cnf" serverAuth "DNS:localhost,IP:127.0.0.1,IP:::1"
  openssl ca -batch -notext -config ca-db/ca.cnf \
    -startdate "$2" -enddate "$3" \
    -extfile "$1.cnf" -in "$1.csr" -out "$1.crt" 2>/dev/null
}

make_ca ca "/CN=uvws test CA"
make_leaf server "/CN=localhost" ca serverAuth \
  "DNS:localhost,IP:127.0.0.1,IP:::1"
make_leaf server-rsa "/CN=localhost" ca serverAuth \
  "DNS:localhost,IP:127.0.0.1,IP:::1" rsa
make_leaf wrongname "/CN=wrong.example" ca serverAuth \
  "DNS:wrong.example,IP:10.9.8.7"
make_leaf client "/CN=uvws test client/O=uvws" ca clientAuth ""
make_leaf badusage "/CN=localhost" ca clientAuth "DNS:localhost,IP:127.0.0.1"
make_leaf sha1 "/CN=localhost" ca serverAuth "DNS:localhost,IP:127.0.0.1" ec sha1
make_dated_leaf expired 20200101000000Z 20200201000000Z
make_dated_leaf notyet 20900101000000Z 20900201000000Z

ec_key selfsigned.key
openssl req -x509 -new -key selfsigned.key -subj "/CN=localhost" -days 30 \
  -sha256 -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -addext "extendedKeyUsage=serverAuth" -out selfsigned.crt

make_ca other-ca "/CN=uvws other CA"
make_leaf client-other "/CN=uvws stranger" other-ca clientAuth ""

cat server.crt ca.crt >chain.crt
rm -rf ca-db ./*.csr ./*.cnf ./*.srl
touch "$stamp"
