"""A school and a jeugd- en gezinsteam talk through Schakel, from Python.

The school registers the parents' consent and sends a signalering to the
JGT; the JGT pulls and acknowledges it; the school checks its receipts.
Every receipt's Ed25519 signature and its proof in the gateway's audit log
(a Merkle tree under a signed head) are verified with the gateway's published
key, and every payload digest is recomputed over the bytes this side holds.

Generate the gRPC modules first (./generate.sh), then:

    python schakel_example.py --gateway 127.0.0.1:7443 \
        --school ../../certs-example/school-po --jgt ../../certs-example/jgt
"""

import argparse
import datetime
import hashlib
import os
import struct
import sys
import uuid

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SCHAKEL_PY_GENERATED", os.path.join(HERE, "generated")))

try:
    from schakel.v1 import consent_pb2, consent_pb2_grpc
    from schakel.v1 import directory_pb2, directory_pb2_grpc
    from schakel.v1 import exchange_pb2, exchange_pb2_grpc
    from schakel.v1 import payloads_pb2, types_pb2
except ImportError as e:
    sys.exit(f"the generated modules are missing ({e}): run ./generate.sh first")


def channel(gateway, identity_dir):
    """A mutual-TLS channel as the organisation in identity_dir.

    The folder holds cert.pem (the organisation's certificate, with its OIN),
    key.pem (its private key) and ca.pem (the CA that signed the gateway's
    certificate).
    """

    def read(name):
        path = os.path.join(identity_dir, name)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            sys.exit(f"cannot read {path}: {e.strerror}; an identity folder holds cert.pem, key.pem and ca.pem")

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read("ca.pem"),
        private_key=read("key.pem"),
        certificate_chain=read("cert.pem"),
    )
    return grpc.secure_channel(gateway, credentials)


def read_vector(path):
    """The `name: value` lines of a test vector in proto/testdata."""
    with open(path) as f:
        return dict(line.rstrip("\n").split(": ", 1) for line in f if ": " in line and not line.startswith("#"))


def _fields(fields):
    """Fields written as a 4-byte big-endian length and their bytes."""
    return b"".join(struct.pack(">I", len(f)) + f for f in fields)


def _receipt_fields(receipt, tag):
    return [
        tag,
        receipt.message_id.encode(),
        exchange_pb2.ReceiptStatus.Name(receipt.status).removeprefix("RECEIPT_STATUS_").encode(),
        f"{receipt.time.seconds}.{receipt.time.nanos:09d}".encode(),
        receipt.payload_digest,
        receipt.sender_oin.encode(),
        receipt.recipient_oin.encode(),
        str(receipt.audit_sequence).encode(),
        receipt.detail.encode(),
    ]


def _sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def receipt_leaf(receipt):
    """The leaf of the receipt's audit entry in the log's tree
    (docs/INTEGRATION.md, "Verifying a receipt by its proof", steps 3 and 4)."""
    digest = _sha256(_fields(_receipt_fields(receipt, b"schakel-receipt-v3")))
    return _sha256(b"\x00", _fields([b"schakel-audit-leaf-v1", receipt.audit_entry_hash, digest]))


def root_from_path(leaf, index, size, path):
    """The root an inclusion proof leads to (RFC 9162 section 2.1.3.2)."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01", p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _sha256(b"\x01", r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def tree_head_bytes(head):
    """The byte string a tree head's signature covers (step 1)."""
    time_ms = head.time.seconds * 1000 + head.time.nanos // 1_000_000
    return _fields([
        b"schakel-tree-head-v1",
        str(head.size).encode(),
        head.root_hash,
        str(head.first_sequence).encode(),
        str(time_ms).encode(),
        head.key_id.encode(),
    ])


def verify_proof(receipt, keys):
    """Checks a receipt's proof in the audit log's tree: the head's
    signature, the leaf's place, and the path from the leaf to the root."""
    head = receipt.tree_head
    hashes = [head.root_hash, receipt.audit_entry_hash, *receipt.inclusion_proof]
    if any(len(h) != 32 for h in hashes):
        raise SystemExit(f"receipt for {receipt.message_id}: a hash of its proof is not 32 bytes")
    if head.key_id not in keys:
        raise SystemExit(f"tree head signed by unknown key {head.key_id}: fetch GatewayKey again")
    try:
        keys[head.key_id].verify(head.signature, tree_head_bytes(head))
    except InvalidSignature:
        raise SystemExit(f"receipt for {receipt.message_id}: its tree head's signature does not verify")
    if receipt.leaf_index != receipt.audit_sequence - head.first_sequence:
        raise SystemExit(f"receipt for {receipt.message_id}: its leaf is not its audit entry's")
    root = root_from_path(receipt_leaf(receipt), receipt.leaf_index, head.size, list(receipt.inclusion_proof))
    if root != head.root_hash:
        raise SystemExit(f"receipt for {receipt.message_id}: its inclusion proof does not lead to the signed root")


def check_against_tree_vector(path):
    """Checks receipt_leaf(), root_from_path() and tree_head_bytes() against
    the worked example in proto/testdata/tree-vector.txt."""
    v = read_vector(path)
    # The receipt of receipt-vector.txt, without its signature.
    receipt = _vector_receipt(read_vector(os.path.join(HERE, "..", "..", "proto", "testdata", "receipt-vector.txt")))
    receipt.ClearField("signature")
    receipt.ClearField("key_id")
    receipt.leaf_index = int(v["leaf_index"])
    receipt.audit_entry_hash = bytes.fromhex(v["audit_entry_hash"])
    receipt.inclusion_proof.extend(bytes.fromhex(h) for h in v["inclusion_proof"].split(","))
    head = receipt.tree_head
    head.size, head.first_sequence = int(v["size"]), int(v["first_sequence"])
    head.root_hash, head.key_id = bytes.fromhex(v["root_hash"]), v["head_key_id"]
    head.signature = bytes.fromhex(v["head_signature"])
    ms = int(v["time_ms"])
    head.time.seconds, head.time.nanos = ms // 1000, (ms % 1000) * 1_000_000
    if receipt_leaf(receipt) != bytes.fromhex(v["leaf_hash"]):
        raise SystemExit(f"receipt_leaf() does not match {path}")
    if tree_head_bytes(head) != bytes.fromhex(v["head_signed_bytes"]):
        raise SystemExit(f"tree_head_bytes() does not match {path}")
    keys = {v["head_key_id"]: _vector_key()}
    verify_proof(receipt, keys)


def _vector_key():
    """The public key of the vectors (seed 07 × 32), from receipt-vector.txt."""
    v = read_vector(os.path.join(HERE, "..", "..", "proto", "testdata", "receipt-vector.txt"))
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(v["public_key"]))


def signed_bytes(receipt):
    """The byte string a receipt's signature covers (docs/INTEGRATION.md)."""
    fields = _receipt_fields(receipt, b"schakel-receipt-v2" if receipt.key_id else b"schakel-receipt-v1")
    if receipt.key_id:
        fields.append(receipt.key_id.encode())
    return _fields(fields)


def key_id(raw_public_key):
    """A key's id as receipts name it: the first 8 bytes of its SHA-256, hex."""
    return hashlib.sha256(raw_public_key).digest()[:8].hex()


def _vector_receipt(v):
    """The signed receipt of receipt-vector.txt's values `v`."""
    receipt = exchange_pb2.Receipt(
        message_id=v["message_id"],
        status=exchange_pb2.ReceiptStatus.Value("RECEIPT_STATUS_" + v["status"]),
        payload_digest=bytes.fromhex(v["payload_digest"]),
        sender_oin=v["sender_oin"],
        recipient_oin=v["recipient_oin"],
        audit_sequence=int(v["audit_sequence"]),
        detail=v.get("detail", ""),
        signature=bytes.fromhex(v["signature"]),
        key_id=v["key_id"],
    )
    receipt.time.seconds, receipt.time.nanos = int(v["time_seconds"]), int(v["time_nanos"])
    return receipt


def check_against_vector(path):
    """Checks signed_bytes() against the worked example in proto/testdata,
    so that a mistake in the encoding shows before any gateway is asked."""
    v = read_vector(path)
    receipt = _vector_receipt(v)
    if signed_bytes(receipt) != bytes.fromhex(v["signed_bytes"]):
        raise SystemExit(f"signed_bytes() does not match {path}")
    public = bytes.fromhex(v["public_key"])
    if key_id(public) != v["key_id"]:
        raise SystemExit(f"key_id() does not match {path}")
    Ed25519PublicKey.from_public_bytes(public).verify(receipt.signature, signed_bytes(receipt))


def verify_receipt(receipt, keys, digest):
    """Checks a receipt's proof in the audit log when it carries one, its
    signature with the key it names, and its digest."""
    proved = receipt.HasField("tree_head")
    if proved:
        verify_proof(receipt, keys)
    if proved and not receipt.signature:
        check_digest(receipt, digest)
        print(f"  receipt {_status(receipt)}: proved in the audit log's tree of {receipt.tree_head.size} entries, payload digest matches")
        return
    if receipt.key_id and receipt.key_id not in keys:
        raise SystemExit(f"receipt signed by unknown key {receipt.key_id}: fetch GatewayKey again")
    candidates = [keys[receipt.key_id]] if receipt.key_id else list(keys.values())
    for key in candidates:
        try:
            key.verify(receipt.signature, signed_bytes(receipt))
            break
        except InvalidSignature:
            continue
    else:
        raise SystemExit(f"receipt for {receipt.message_id}: the signature does not verify")
    check_digest(receipt, digest)
    proof = f", proved in the audit log's tree of {receipt.tree_head.size} entries" if proved else ""
    print(f"  receipt {_status(receipt)}: signature by key {receipt.key_id} verified{proof}, payload digest matches")


def check_digest(receipt, digest):
    """The receipt names the SHA-256 of the bytes this side holds."""
    if receipt.payload_digest != digest:
        raise SystemExit(f"receipt for {receipt.message_id}: payload digest differs from the bytes sent")


def _status(receipt):
    return exchange_pb2.ReceiptStatus.Name(receipt.status).removeprefix("RECEIPT_STATUS_").lower()


def gateway_keys(ch):
    """The gateway's public keys by key id, from Directory.GatewayKey."""
    response = directory_pb2_grpc.DirectoryStub(ch).GatewayKey(directory_pb2.GatewayKeyRequest(), timeout=10)
    # Name each key by the id computed here, not by what the answer claims.
    return {key_id(k.ed25519_public_key): Ed25519PublicKey.from_public_bytes(k.ed25519_public_key) for k in response.keys}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="127.0.0.1:7443", help="host:port of the gateway")
    parser.add_argument("--school", required=True, help="identity folder of the school")
    parser.add_argument("--jgt", required=True, help="identity folder of the jeugd- en gezinsteam")
    args = parser.parse_args()

    check_against_vector(os.path.join(HERE, "..", "..", "proto", "testdata", "receipt-vector.txt"))
    print("receipt encoding checked against proto/testdata/receipt-vector.txt")
    check_against_tree_vector(os.path.join(HERE, "..", "..", "proto", "testdata", "tree-vector.txt"))
    print("receipt proofs checked against proto/testdata/tree-vector.txt")

    school, jgt = channel(args.gateway, args.school), channel(args.gateway, args.jgt)
    try:
        me = directory_pb2_grpc.DirectoryStub(school).WhoAmI(directory_pb2.WhoAmIRequest(), timeout=10)
        them = directory_pb2_grpc.DirectoryStub(jgt).WhoAmI(directory_pb2.WhoAmIRequest(), timeout=10)
    except grpc.RpcError as e:
        sys.exit(f"cannot reach the gateway at {args.gateway}: {e.code().name}: {e.details()}")
    print(f"school: {me.participant.name} ({me.participant.oin})")
    print(f"jgt:    {them.participant.name} ({them.participant.oin})")
    keys = gateway_keys(school)
    print(f"gateway keys: {', '.join(keys)}")

    today = datetime.date.today()
    birth_date = (today - datetime.timedelta(days=9 * 365 + 30)).isoformat()
    bsn = "111222333"

    # The parents consent to the JGT receiving signals about their child.
    consent = consent_pb2_grpc.ConsentStub(school).Grant(
        consent_pb2.GrantConsentRequest(
            bsn=bsn,
            birth_date=birth_date,
            given_by=consent_pb2.CONSENT_GIVER_PARENTS,
            consented_by=[consent_pb2.CONSENT_CONSENTER_PARENT],
            obtained=consent_pb2.CONSENT_OBTAINED_IN_WRITING,
            recipient_oins=[them.participant.oin],
            message_kinds=[types_pb2.MESSAGE_KIND_SIGNALERING],
            purpose="Samen met het jeugd- en gezinsteam hulp zoeken",
            purpose_code=types_pb2.CONSENT_PURPOSE_YOUTH_CARE,
            valid_until=_timestamp(datetime.timedelta(days=180)),
        ),
        timeout=10,
    )
    print(f"consent registered: {consent.consent_id}")

    # The payload travels as the bytes we serialize; its digest is their SHA-256.
    payload = payloads_pb2.Payload(
        signalering=payloads_pb2.Signalering(
            bsn=bsn,
            birth_date=birth_date,
            contact=types_pb2.Contact(name="J. de Vries", role="intern begeleider", phone="071 1234567"),
            signal_date=today.isoformat(),
            valid_until=(today + datetime.timedelta(days=365)).isoformat(),
            parents_informed=True,
        )
    ).SerializeToString()
    digest = hashlib.sha256(payload).digest()

    sent = exchange_pb2_grpc.ExchangeStub(school).Send(
        exchange_pb2.SendRequest(
            client_reference=f"python-{uuid.uuid4()}",
            recipient_oin=them.participant.oin,
            legal_basis=types_pb2.LegalBasis(
                consent_id=consent.consent_id, purpose=types_pb2.CONSENT_PURPOSE_YOUTH_CARE
            ),
            payload=payload,
        ),
        timeout=10,
    )
    print(f"sent signalering {sent.message_id} in case {sent.case_id}")
    verify_receipt(sent.receipt, keys, digest)

    # The JGT pulls its inbox, checks the bytes it got, and acknowledges.
    inbox = exchange_pb2_grpc.ExchangeStub(jgt)
    delivery = None
    for _ in range(10):
        pulled = inbox.Pull(exchange_pb2.PullRequest(max_messages=16, wait=_seconds(2)), timeout=10)
        for d in pulled.deliveries:
            # Other messages stay leased until their lease ends; a real
            # system would handle them too.
            if d.envelope.message_id == sent.message_id:
                delivery = d
        if delivery:
            break
    if delivery is None:
        sys.exit(f"message {sent.message_id} did not reach the JGT's inbox")
    envelope = delivery.envelope
    if hashlib.sha256(envelope.payload).digest() != envelope.payload_digest:
        sys.exit("the delivered payload does not match its digest")
    received = payloads_pb2.Payload.FromString(envelope.payload)
    print(
        f"jgt pulled {envelope.message_id} (attempt {delivery.attempt}) under consent "
        f"{delivery.consent.consent_id}: contact {received.signalering.contact.name}, "
        f"{received.signalering.contact.role}"
    )
    acked = inbox.Ack(exchange_pb2.AckRequest(message_id=envelope.message_id), timeout=10)
    verify_receipt(acked.receipt, keys, envelope.payload_digest)

    # The school sees both receipts on the message's status. A client that
    # verifies only a receipt's own signature asks for it with this header;
    # here both the signature and the proof are checked.
    status = exchange_pb2_grpc.ExchangeStub(school).GetStatus(
        exchange_pb2.GetStatusRequest(message_id=sent.message_id),
        timeout=10,
        metadata=(("schakel-receipt-signature", "ed25519"),),
    )
    print("the school's status of the message, each receipt signed on its own:")
    for receipt in status.receipts:
        if not receipt.signature:
            sys.exit("asked for signed receipts, got one without a signature")
        verify_receipt(receipt, keys, digest)
    final = exchange_pb2.ReceiptStatus.Name(status.receipts[-1].status)
    if final != "RECEIPT_STATUS_DELIVERED":
        sys.exit(f"expected the message to be delivered, its last receipt is {final}")
    print("delivered, and every receipt verified")


def _timestamp(after):
    from google.protobuf.timestamp_pb2 import Timestamp

    t = Timestamp()
    t.FromDatetime(datetime.datetime.now(datetime.timezone.utc) + after)
    return t


def _seconds(n):
    from google.protobuf.duration_pb2 import Duration

    return Duration(seconds=n)


if __name__ == "__main__":
    main()
