"""One family, one plan, one coordinator: a case with several parties, from Python.

The school consults the JGT about a child, which starts a case. The parents
agree that the JGT coordinates (the school records it) and, in the
multidisciplinary meeting, what the parties may share: the JGT registers
that consent once, for the case, and adds the school and the SWV as
parties. The JGT shares version 1 of the family plan with both parties in
one call (SendToMany); the school responds to the version it had. Then the
school asks the SWV for a TLV on the statute of passend onderwijs, the OPP
attached, and the SWV grants it. Every receipt is verified as in
schakel_example.py, whose helpers this uses.

    python schakel_case.py --gateway 127.0.0.1:7443 --school ../../certs-example/school-po \
        --jgt ../../certs-example/jgt --swv ../../certs-example/swv
"""

import argparse
import datetime
import hashlib
import sys
import uuid

import grpc

from schakel_example import _seconds, _timestamp, channel, gateway_keys, verify_receipt
from schakel_example import consent_pb2, consent_pb2_grpc, directory_pb2, directory_pb2_grpc
from schakel_example import exchange_pb2, exchange_pb2_grpc, payloads_pb2, types_pb2

BSN = "999999990"
CONTACT = types_pb2.Contact(name="J. de Vries", role="regisseur", phone="071 1234567")


def oin_of(ch):
    return directory_pb2_grpc.DirectoryStub(ch).WhoAmI(directory_pb2.WhoAmIRequest(), timeout=10).participant.oin


def consent(ch, case_id, recipients, kinds, purpose_code, text, birth_date):
    """Registers a consent for the child; with case_id, the meeting's consent."""
    return consent_pb2_grpc.ConsentStub(ch).Grant(
        consent_pb2.GrantConsentRequest(
            bsn=BSN,
            birth_date=birth_date,
            given_by=consent_pb2.CONSENT_GIVER_PARENTS,
            obtained=consent_pb2.CONSENT_OBTAINED_IN_MEETING if case_id else consent_pb2.CONSENT_OBTAINED_IN_WRITING,
            recipient_oins=recipients,
            message_kinds=kinds,
            purpose=text,
            purpose_code=purpose_code,
            valid_until=_timestamp(datetime.timedelta(days=180)),
            case_id=case_id,
        ),
        timeout=10,
    )


def receive(ch, message_id, keys):
    """Pulls until message_id arrives, checks its digest, acknowledges it, verifies the receipt."""
    inbox = exchange_pb2_grpc.ExchangeStub(ch)
    for _ in range(10):
        pulled = inbox.Pull(exchange_pb2.PullRequest(max_messages=16, wait=_seconds(2)), timeout=10)
        for d in pulled.deliveries:
            if d.envelope.message_id == message_id:
                if hashlib.sha256(d.envelope.payload).digest() != d.envelope.payload_digest:
                    sys.exit("the delivered payload does not match its digest")
                acked = inbox.Ack(exchange_pb2.AckRequest(message_id=message_id), timeout=10)
                verify_receipt(acked.receipt, keys, d.envelope.payload_digest)
                return d
    sys.exit(f"message {message_id} did not arrive")


def send(ch, request, keys):
    sent = exchange_pb2_grpc.ExchangeStub(ch).Send(request, timeout=10)
    verify_receipt(sent.receipt, keys, hashlib.sha256(request.payload).digest())
    return sent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="127.0.0.1:7443", help="host:port of the gateway")
    for who in ("school", "jgt", "swv"):
        parser.add_argument(f"--{who}", required=True, help=f"identity folder of the {who}")
    args = parser.parse_args()
    school, jgt, swv = (channel(args.gateway, d) for d in (args.school, args.jgt, args.swv))
    try:
        oins = {name: oin_of(ch) for name, ch in (("school", school), ("jgt", jgt), ("swv", swv))}
    except grpc.RpcError as e:
        sys.exit(f"cannot reach the gateway at {args.gateway}: {e.code().name}: {e.details()}")
    keys = gateway_keys(school)
    today = datetime.date.today()
    birth_date = (today - datetime.timedelta(days=10 * 365)).isoformat()
    run = uuid.uuid4().hex[:12]
    coordination = types_pb2.CONSENT_PURPOSE_CARE_COORDINATION

    # The school consults the JGT: the case starts.
    asked = consent(school, "", [oins["jgt"]], [types_pb2.MESSAGE_KIND_CONSULTATIEVERZOEK],
                    types_pb2.CONSENT_PURPOSE_CONSULTATION, "Overleg met het JGT", birth_date)
    question = payloads_pb2.Payload(consultatieverzoek=payloads_pb2.Consultatieverzoek(
        bsn=BSN, question="Kunnen we samen kijken naar thuis en school?", urgency=payloads_pb2.URGENCY_SOON,
        respond_by=(today + datetime.timedelta(days=14)).isoformat(), contact=CONTACT,
    )).SerializeToString()
    first = send(school, exchange_pb2.SendRequest(
        client_reference=f"py-case-{run}-vraag", recipient_oin=oins["jgt"], payload=question,
        legal_basis=types_pb2.LegalBasis(consent_id=asked.consent_id, purpose=types_pb2.CONSENT_PURPOSE_CONSULTATION),
    ), keys)
    case = first.case_id
    receive(jgt, first.message_id, keys)
    print(f"case {case} started")

    # The parents agree that the JGT coordinates; the school records it.
    agreed = consent(school, "", [oins["jgt"]], [types_pb2.MESSAGE_KIND_PLAN], coordination,
                     "Het JGT is regisseur", birth_date)
    view = exchange_pb2_grpc.ExchangeStub(school).SetCaseCoordinator(exchange_pb2.SetCaseCoordinatorRequest(
        case_id=case, coordinator_oin=oins["jgt"], legal_basis=types_pb2.LegalBasis(consent_id=agreed.consent_id),
    ), timeout=10)
    print(f"coordinator: {view.coordinator.oin}")

    # The meeting's consent, once, for the case; the parties join under it.
    kinds = [types_pb2.MESSAGE_KIND_PLAN, types_pb2.MESSAGE_KIND_PLANREACTIE, types_pb2.MESSAGE_KIND_OVERLEG]
    mdo = consent(jgt, case, list(oins.values()), kinds, coordination, "Afspraken uit het MDO", birth_date)
    print(f"the meeting's consent {mdo.consent_id}: obtained {consent_pb2.ConsentObtained.Name(mdo.obtained)}")
    for party in ("school", "swv"):
        exchange_pb2_grpc.ExchangeStub(jgt).AddCaseParty(exchange_pb2.AddCasePartyRequest(
            case_id=case, party_oin=oins[party], legal_basis=types_pb2.LegalBasis(consent_id=mdo.consent_id),
        ), timeout=10)
    under_mdo = types_pb2.LegalBasis(consent_id=mdo.consent_id, purpose=coordination)

    # Version 1 of the plan to both parties in one call: a message and receipt each.
    document = b"%PDF-1.7 gezinsplan versie 1"
    plan = payloads_pb2.Payload(
        case_plan=payloads_pb2.CasePlan(version=1, plan_type=payloads_pb2.PLAN_TYPE_FAMILY_PLAN, bsn=BSN,
                                        title="Gezinsplan", changes="Eerste versie", contact=CONTACT),
        attachments=[payloads_pb2.Attachment(name="gezinsplan-v1.pdf", media_type="application/pdf",
                                             content=document, sha256=hashlib.sha256(document).digest())],
    ).SerializeToString()
    results = exchange_pb2_grpc.ExchangeStub(jgt).SendToMany(exchange_pb2.SendToManyRequest(
        message=exchange_pb2.SendRequest(client_reference=f"py-case-{run}-plan-1", case_id=case,
                                         legal_basis=under_mdo, payload=plan),
        recipient_oins=[oins["school"], oins["swv"]],
    ), timeout=10).results
    copies = {}
    for oin, result in zip((oins["school"], oins["swv"]), results):
        if result.HasField("error"):
            sys.exit(f"the plan's copy to {oin} was refused: {result.error.message}")
        verify_receipt(result.sent.receipt, keys, hashlib.sha256(plan).digest())
        copies[oin] = result.sent.message_id
    print(f"plan version 1 shared with {len(copies)} parties")
    school_copy = receive(school, copies[oins["school"]], keys)
    receive(swv, copies[oins["swv"]], keys)

    # The school responds to the version it had; it travels under the plan's basis.
    response = payloads_pb2.Payload(plan_response=payloads_pb2.PlanResponse(
        position=payloads_pb2.PLAN_POSITION_COMMENTS, comments="Graag evaluatie in maart.", contact=CONTACT,
    )).SerializeToString()
    replied = send(school, exchange_pb2.SendRequest(
        client_reference=f"py-case-{run}-reactie", recipient_oin=oins["jgt"],
        in_reply_to=school_copy.envelope.message_id, payload=response,
    ), keys)
    receive(jgt, replied.message_id, keys)
    listed = exchange_pb2_grpc.ExchangeStub(jgt).ListCase(exchange_pb2.ListCaseRequest(case_id=case), timeout=10)
    had = sorted((m.recipient_oin, m.plan_version) for m in listed.messages if m.kind == types_pb2.MESSAGE_KIND_PLAN)
    print(f"who had which version: {had}; versions: {[p.version for p in listed.plans]}")

    # The school asks the SWV for a TLV, the OPP attached; the SWV grants it.
    opp = b"%PDF-1.7 ontwikkelingsperspectiefplan"
    request = payloads_pb2.Payload(
        arrangement_request=payloads_pb2.ArrangementRequest(
            type=payloads_pb2.ARRANGEMENT_TYPE_TLV, tlv_for="so", reason="Meer nodig dan arrangementen",
            pupil=payloads_pb2.Pupil(bsn=BSN, family_name="Jansen", birth_date=birth_date),
            parents_consulted=True, contact=CONTACT),
        attachments=[payloads_pb2.Attachment(name="opp.pdf", media_type="application/pdf",
                                             content=opp, sha256=hashlib.sha256(opp).digest())],
    ).SerializeToString()
    tlv = send(school, exchange_pb2.SendRequest(
        client_reference=f"py-case-{run}-tlv", recipient_oin=oins["swv"], case_id=case, payload=request,
        legal_basis=types_pb2.LegalBasis(statutory=types_pb2.STATUTORY_BASIS_PASSEND_ONDERWIJS),
    ), keys)
    receive(swv, tlv.message_id, keys)
    decision = payloads_pb2.Payload(arrangement_decision=payloads_pb2.ArrangementDecision(
        outcome=payloads_pb2.DECISION_OUTCOME_GRANTED, category=payloads_pb2.TLV_CATEGORY_LOW,
        valid_from=(today + datetime.timedelta(days=30)).isoformat(),
        valid_until=(today + datetime.timedelta(days=400)).isoformat(),
        reasons="Beide deskundigen adviseren so", objection="Binnen zes weken bij de bezwaarcommissie",
        contact=CONTACT,
    )).SerializeToString()
    decided = send(swv, exchange_pb2.SendRequest(
        client_reference=f"py-case-{run}-besluit", recipient_oin=oins["school"], in_reply_to=tlv.message_id,
        payload=decision,
    ), keys)
    got = receive(school, decided.message_id, keys)
    outcome = payloads_pb2.Payload.FromString(got.envelope.payload).arrangement_decision.outcome
    print(f"the TLV: {payloads_pb2.DecisionOutcome.Name(outcome)}, in case {decided.case_id}")
    print("the case's story is done, and every receipt verified")


if __name__ == "__main__":
    main()
