#!/usr/bin/env python3
"""Writes steps.jsonl: the labelled corpus for tests/corpus.rs.

Every line is one agent-step text with the personal data and secrets it
holds (`pii`: kind and exact value) and the look-alikes that must survive
untouched (`keep`). All values are generated here with a fixed seed: card
numbers and IBANs get correct check digits, phone numbers use fictional
ranges (555-01xx, Ofcom's 7946 0xxx and 7700 900xxx), names are invented.
Run it again to regenerate: `python3 generate.py > steps.jsonl`.
"""
import base64
import json
import random
import string

rng = random.Random(13)
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"

FIRST = ["jane", "john", "marie", "pieter", "anna", "lukas", "sofia", "mateo", "emma", "noah", "lea", "yusuf", "chloe", "sven", "ines", "oliver"]
LAST = ["doe", "smith", "dupont", "de.vries", "mueller", "garcia", "rossi", "jansen", "martin", "schmidt", "bakker", "lopez"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.de", "corp.example.co.uk", "example.fr", "shop.example.nl", "example.io"]


def rand(chars, n):
    return "".join(rng.choice(chars) for _ in range(n))


def mixed(chars, n):
    """A random token that surely holds a letter and a digit."""
    while True:
        token = rand(chars, n)
        if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
            return token


# --- personal data and secrets ---------------------------------------------

def email():
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice([f"{first}.{last}", f"{first}{rng.randint(1, 99)}", f"{first[0]}{last}", f"{first}+support", f"{first}_{last}"])
    value = f"{local}@{rng.choice(DOMAINS)}"
    return value.title() if rng.random() < 0.1 else value


def phone():
    d = lambda n: rand(string.digits, n)
    tail = f"01{d(2)}"
    forms = [
        f"({rng.choice(['415', '212', '646'])}) 555-{tail}",
        f"{rng.choice(['415', '212', '312'])}-555-{tail}",
        f"+1 {rng.choice(['415', '212'])} 555 {tail}",
        f"+1-646-555-{tail}",
        f"312.555.{tail}",
        f"+44 20 7946 0{d(3)}",
        f"020 7946 0{d(3)}",
        f"+44 7700 900{d(3)}",
        f"07700 900{d(3)}",
        f"+31 6 {d(4)} {d(4)}",
        f"06-{rng.randint(1, 9)}{d(7)}",
        f"+31 (0)20 {d(3)} {d(4)}",
        f"020-{rng.randint(2, 9)}{d(6)}",
        f"+49 30 {rng.randint(2, 9)}{d(6)}",
        f"030 {rng.randint(2, 9)}{d(7)}",
        f"+49 (0)171 {d(7)}",
        f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"06 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"+34 6{d(2)} {d(2)} {d(2)} {d(2)}",
        f"+316{rng.randint(1, 9)}{d(7)}",
    ]
    return rng.choice(forms)


def luhn_digit(partial):
    total = 0
    for i, ch in enumerate(reversed(partial)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def card_digits():
    prefix, length = rng.choice([("4", 16), ("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16), ("35", 16), ("36", 14), ("62", 16), ("4", 19)])
    body = prefix + rand(string.digits, length - len(prefix) - 1)
    return body + luhn_digit(body)


def card():
    digits = card_digits()
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    if len(digits) == 15:
        groups = [digits[:4], digits[4:10], digits[10:]]
    elif len(digits) == 14:
        groups = [digits[:4], digits[4:10], digits[10:]]
    else:
        groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
    return sep.join(groups)


IBAN_FORMATS = {  # country: BBAN as (alphabet, count) runs
    "DE": [(string.digits, 18)],
    "NL": [(string.ascii_uppercase, 4), (string.digits, 10)],
    "GB": [(string.ascii_uppercase, 4), (string.digits, 14)],
    "FR": [(string.digits, 10), (string.ascii_uppercase + string.digits, 11), (string.digits, 2)],
    "ES": [(string.digits, 20)],
    "IT": [(string.ascii_uppercase, 1), (string.digits, 10), (string.digits, 12)],
    "BE": [(string.digits, 12)],
    "AT": [(string.digits, 16)],
    "CH": [(string.digits, 5), (string.digits, 12)],
    "PL": [(string.digits, 24)],
    "NO": [(string.digits, 11)],
}


def mod97(text):
    rotated = text[4:] + text[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97


def iban_compact(wrong_check=False):
    country = rng.choice(list(IBAN_FORMATS))
    bban = "".join(rand(chars, n) for chars, n in IBAN_FORMATS[country])
    check = 98 - mod97(country + "00" + bban)
    if wrong_check:
        check = (check + rng.randint(1, 50)) % 97 + 2
    value = f"{country}{check:02d}{bban}"
    assert (mod97(value) == 1) != wrong_check or wrong_check
    return value


def grouped(value):
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def iban():
    value = iban_compact()
    return grouped(value) if rng.random() < 0.6 else value


def ipv4():
    return rng.choice([
        f"192.0.2.{rng.randint(1, 254)}",
        f"198.51.100.{rng.randint(1, 254)}",
        f"203.0.113.{rng.randint(1, 254)}",
        f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"172.16.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    ])


def ipv6():
    h = lambda: format(rng.randint(1, 0xFFFF), "x")
    return rng.choice([
        f"2001:db8:{h()}:{h()}::{h()}",
        f"2001:0db8:85a3:0000:0000:8a2e:{rng.randint(1000, 9999)}:{h()}",
        f"fe80::{h()}:{h()}:{h()}:{h()}",
        f"2a01:4f8:{h()}:{h()}::2",
        f"::ffff:192.0.2.{rng.randint(1, 254)}",
    ])


def ip():
    return ipv4() if rng.random() < 0.65 else ipv6()


def jwt():
    header = base64.urlsafe_b64encode(json.dumps({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({"sub": str(rng.randint(10**6, 10**9)), "iat": rng.randint(1.6e9, 1.8e9)}).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{rand(B64URL, 43)}"


def pem():
    lines = "\n".join(rand(string.ascii_letters + string.digits + "+/", 64) for _ in range(3))
    label = rng.choice(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"


def secret():
    return rng.choice([
        lambda: "sk-proj-" + mixed(B64URL, 48),
        lambda: "sk-" + mixed(ALNUM, 48),
        lambda: "sk-ant-api03-" + mixed(B64URL, 93) + "AA",
        lambda: rng.choice(["AKIA", "ASIA"]) + mixed(string.ascii_uppercase + string.digits, 16),
        lambda: rng.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + mixed(ALNUM, 36),
        lambda: "github_pat_11" + mixed(string.ascii_uppercase + string.digits, 20) + "_" + mixed(ALNUM, 59),
        lambda: f"xoxb-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{mixed(ALNUM, 24)}",
        lambda: f"xoxp-{rand(string.digits, 12)}-{rand(string.digits, 12)}-{mixed(ALNUM, 32)}",
        jwt,
        pem,
    ])()


def bearer_token():
    return mixed(ALNUM + "._-", rng.randint(24, 48))


def bsn():
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        weighted = sum(d * w for d, w in zip(digits, range(9, 1, -1)))
        last = weighted % 11
        if last < 10 and digits[0] != 0:
            value = "".join(map(str, digits + [last]))
            return value if rng.random() < 0.7 else f"{value[:4]}.{value[4:6]}.{value[6:]}"


PII = {"email": email, "phone": phone, "card": card, "iban": iban, "ip": ip, "secret": secret, "bearer": bearer_token, "bsn": bsn}
PII_KIND = {"bearer": "secret", "bsn": "national_id"}

# --- look-alikes that must survive ------------------------------------------

def luhn_failing_16():
    body = "4" + rand(string.digits, 14)
    return body + str((int(luhn_digit(body)) + rng.randint(1, 9)) % 10)


def uuid():
    h = rand("0123456789abcdef", 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


NEG = {
    "order": lambda: rng.choice([f"ORD-{rand(string.digits, 8)}", f"#{rand(string.digits, 7)}", f"{rand(string.digits, 3)}-{rand(string.digits, 7)}-{rand(string.digits, 7)}", f"PO{rand(string.digits, 10)}", f"INV-2024-{rand(string.digits, 5)}"]),
    "uuid": uuid,
    "sha": lambda: rand("0123456789abcdef", rng.choice([40, 64])),
    "short_sha": lambda: rand("0123456789abcdef", 7),
    "ts": lambda: rng.choice([f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rand(string.digits, 3)}Z",
                              f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}+02:00",
                              f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2024 {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                              f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/2024"]),
    "epoch": lambda: rng.choice([str(rng.randint(1_600_000_000_000, 1_800_000_000_000)), str(rng.randint(1_600_000_000, 1_800_000_000)), str(rng.randint(1_600_000_000_000_000, 1_800_000_000_000_000))]),
    "price": lambda: rng.choice([f"${rng.randint(1, 9)},{rng.randint(100, 999)}.{rng.randint(0, 99):02d}", f"€{rng.randint(1, 999)},{rng.randint(0, 99):02d}", f"{rng.randint(1, 9)}.{rng.randint(100, 999)},00 €", f"USD {rng.randint(10, 99)},{rng.randint(100, 999)}.{rng.randint(0, 99):02d}", f"£{rng.randint(1, 500)}.{rng.randint(0, 99):02d}"]),
    "version": lambda: rng.choice([f"v{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}", f"{rng.randint(1, 4)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}", f"Python 3.{rng.randint(8, 13)}.{rng.randint(0, 12)}", f"version {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}", f"build 10.0.{rng.randint(19000, 26000)}.{rng.randint(100, 5000)}", f"node-v{rng.randint(16, 22)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"]),
    "badcard": luhn_failing_16,
    "longid": lambda: rng.choice(["1", "9", "8", "0"]) + rand(string.digits, 15),
    "badiban": lambda: grouped(iban_compact(wrong_check=True)),
    "nine": lambda: str(rng.randint(100_000_000, 999_999_999)),
    "notip": lambda: rng.choice(["999.1.1.1", "256.10.10.10", "127.0.0.1", "0.0.0.0", "255.255.255.0", "1.3.6.1.4.1.311.21.7", "::1", f"{rng.randint(1, 99)}.{rng.randint(100, 999)}.{rng.randint(100, 999)}.{rng.randint(1000, 9999)}"]),
    "clock": lambda: rng.choice([f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}", f"00:1a:2b:{rand('0123456789abcdef', 2)}:4d:5e", "std::io::Error", "i32::from", "Vec::<u8>::new", "x[1::2]"]),
    "handle": lambda: rng.choice(["lodash@4.17.21", "icon@2x.png", "@jane_doe", "react@18.2.0", "user@localhost", "git+ssh", "@app.route"]),
    "fakesecret": lambda: rng.choice(["sk-learn", "scikit-learn", "task-runner-v2", "ghost_writer", "AKIA", "eyJhbGciOi", "xoxo", "-----BEGIN CERTIFICATE-----", "Bearer <token>", "bearer of bad news", "sk-this-is-not-a-key-at-all"]),
    "size": lambda: rng.choice([f"{rng.randint(1, 999)}.{rng.randint(0, 9)} MB", f"{rng.randint(1000000, 99999999)} bytes", f"{rng.randint(1, 64)} GiB"]),
    "coord": lambda: f"{rng.uniform(-80, 80):.4f}, {rng.uniform(-170, 170):.4f}",
    "tz": lambda: rng.choice(["+02:00", "UTC+01:00", "+0530", "-0800"]),
    "delta": lambda: rng.choice([f"+{rng.randint(1, 99999)} -{rng.randint(1, 9999)}", f"+{rng.randint(1, 99)}.{rng.randint(0, 9)}%", f"+{rng.randint(10**6, 10**7)} rows"]),
}

# --- texts ------------------------------------------------------------------

TEMPLATES = [
    # tool params (JSON as text)
    '{"tool": "send_email", "to": "{email}", "subject": "Your order {order}", "body": "Hi, your refund of {price} is on its way."}',
    '{"name": "crm.lookup", "arguments": {"phone": "{phone}", "since": "{ts}"}}',
    '{"action": "charge", "card_number": "{card}", "amount": "{price}", "idempotency_key": "{uuid}"}',
    '{"payout": {"iban": "{iban}", "reference": "{order}", "currency": "EUR"}}',
    '{"method": "POST", "url": "https://api.example.com/v1/users", "headers": {"Authorization": "Bearer {bearer}"}, "request_id": "{uuid}"}',
    '{"env": {"OPENAI_API_KEY": "{secret}", "NODE_VERSION": "{version}"}}',
    '{"customer": {"email": "{email}", "phone": "{phone}"}, "created": "{ts}"}',
    '{"client_ip": "{ip}", "user_agent": "curl/8.4.0", "latency_ms": 132, "trace": "{sha}"}',
    # reasoning
    'The customer {email} says the charge on card {card} was duplicated; order {order} shows one payment at {ts}.',
    'I should call the user back at {phone} and confirm the IBAN {iban} before issuing the refund of {price}.',
    'The request came from {ip}, which matches the last login at {ts}; the session id is {uuid}.',
    'The user pasted their API key ({secret}) into the chat. I must not repeat it, and should advise rotating it.',
    'Looking at commit {short_sha} ({sha}), the bug was introduced in {version}.',
    'Order {order} totalling {price} was placed at {ts}; tracking id {longid}.',
    'The card number {badcard} fails validation, so I will ask the customer to re-enter it.',
    'The IBAN {badiban} has a wrong check digit; asking for the correct one.',
    'Migration {epoch} applied in {size}; next run at {clock}.',
    'Both {email} and {email} are on the account; the primary phone is {phone}.',
    'Step {nine} of the pipeline processed {size} from {coord}.',
    # support emails in several languages
    'Hallo, bitte überweisen Sie die Erstattung auf mein Konto {iban}. Sie erreichen mich unter {phone}. Mit freundlichen Grüßen, {email}',
    'Bonjour, ma carte {card} a été débitée deux fois pour la commande {order}. Appelez-moi au {phone}. Cordialement.',
    'Beste klant, uw BSN {bsn} en IBAN {iban} zijn ontvangen. Wij nemen contact op via {email}.',
    'Hola, mi número es {phone} y mi correo {email}. El pedido {order} llegó el {ts}.',
    'Dear support, my card ending in 4242 was charged {price}. Full number: {card}. Reply to {email}.',
    'Geachte heer, mijn burgerservicenummer is {bsn}. Telefoon: {phone}.',
    'Subject: Re: invoice {order}\nFrom: {email}\nTo: {email}\n\nPlease use IBAN {iban} for invoice {order}.',
    # logs
    '{ts} INFO auth: login ok user={email} ip={ip} session={uuid}',
    '{ts} WARN api: rate limited client {ip} after {delta} requests (trace {sha})',
    '{ts} ERROR payments: charge failed card={card} code=card_declined request={uuid}',
    '{ts} DEBUG http: GET /v1/me Authorization: Bearer {bearer} -> 200 in 12ms',
    '{ip} - - [17/May/2024:12:30:45 +0200] "GET /api/orders/{nine} HTTP/1.1" 200 {size}',
    'nginx: upstream {ip}:8080 timed out, retrying; build {version}',
    '{ts} INFO worker: job {uuid} finished, exported {size}, tz {tz}',
    'kernel: eth0 link up, mac {clock}, addr {ip}',
    '{ts} INFO deploy: release {version} rolled out to 3 pods (commit {short_sha})',
    # code and config
    'client = OpenAI(api_key="{secret}")\nresp = client.chat.completions.create(model="gpt-4o", messages=msgs)',
    'export AWS_ACCESS_KEY_ID={secret}\nexport AWS_REGION=eu-west-1',
    'git remote set-url origin https://{secret}@github.com/acme/app.git',
    'SLACK_BOT_TOKEN={secret}\nSLACK_CHANNEL=C0123456789',
    'curl -H "Authorization: Bearer {bearer}" https://api.example.com/v1/orders/{order}',
    'const cfg = { host: "{ip}", port: 5432, user: "app", version: "{version}" };',
    'def charge(card="{card}"):\n    # TODO remove test card\n    return stripe.Charge.create(amount=1299)',
    'ssh_key = """{secret}"""',
    'pip install {fakesecret}=={version} && npm i {handle}',
    'for (auto x : std::vector<int>{1, 2, 3}) { std::cout << x; } // {clock}',
    # stack traces
    'Traceback (most recent call last):\n  File "/app/billing.py", line 42, in charge\n    raise CardDeclined(card="{card}", email="{email}")\nCardDeclined: declined at {ts}',
    'java.lang.IllegalStateException: user {email} not found\n\tat com.acme.UserService.load(UserService.java:88)\n\tat com.acme.Api.handle(Api.java:{nine})',
    'thread \'main\' panicked at src/main.rs:42:9:\nconnect to {ip} failed: Connection refused (os error 111)',
    'Error: request {uuid} failed with 401; token {secret} expired at {ts}',
    # tool results
    '{"results": [{"name": "Jane Doe", "email": "{email}", "phone": "{phone}"}, {"name": "John Roe", "email": "{email}"}], "took_ms": {nine}}',
    '{"account": {"holder": "A. Jansen", "iban": "{iban}", "balance": "{price}"}, "as_of": "{ts}"}',
    '{"status": "ok", "order": "{order}", "total": "{price}", "eta": "{ts}", "sku": "{longid}"}',
    'Search returned 3 documents (ids {uuid}, {uuid}, {uuid}) in {size}.',
    # prompts and messages
    'User: my email is {email} and my phone is {phone}, please update my profile.\nAssistant: Done, I updated your profile.',
    'System: You are a billing assistant. Never reveal card numbers.\nUser: charge {card} for {price}.',
    'User: here is my key {secret}, why does it fail?',
    'User: what changed between {version} and {version}?\nAssistant: See commit {sha}.',
    'User: convert {price} to EUR at {ts}\nAssistant: That is about {price}.',
    'User: the server at {ip} and the one at {ip} both time out.',
    'User: transfer {price} to {iban} tomorrow.',
    '{"patient": {"bsn": "{bsn}", "verzekerd": true}, "opgehaald": "{ts}"}',
    'Controle: BSN {bsn} komt overeen met de aanvraag {order}.',
    'KYC check: sofinummer {bsn}, IBAN {iban}, geboren 12-03-1985.',
    '{"refund": {"card": "{card}", "iban": "{iban}", "reason": "duplicate"}}',
    'Payment retry {uuid}: card {card} -> card {card}',
    'SEPA mandate signed for {iban} (creditor id DE98ZZZ09999999999).',
    'Virement reçu sur {iban} le {ts}, montant {price}.',
    '{ts} INFO payments: refund to {card} ok, amount {price}, ref {order}',
    # pure hard negatives
    'Deployed {version} at {ts}; health check passed in {size}; commit {sha}.',
    'Order {order} for {price}: shipped {ts}, tracking {longid}, epoch {epoch}.',
    'Checksums: {sha} {sha}; request {uuid}; offset {tz}; change {delta}.',
    'Coordinates {coord}; elapsed {clock}; records {nine}; id {longid}.',
    'Invalid addresses in config: {notip}, {notip}. Mentions {handle} and {handle}.',
    'Not secrets: {fakesecret}, {fakesecret}, {fakesecret}.',
    'Card-like but invalid: {badcard}; IBAN-like but invalid: {badiban}; numbers {nine} and {epoch}.',
    'Timings: started {ts}, ended {ts}, duration {clock}, cost {price}, {delta}.',
    'Versions: {version}, {version}, {version}; artifacts {size}.',
    'Ticket {order} reopened at {ts} by agent #{nine}; see {uuid}.',
]


def render(template):
    pii, keep = [], []
    out, i = [], 0
    while i < len(template):
        if template[i] == "{":
            end = template.find("}", i)
            name = template[i + 1:end] if end != -1 else ""
            if name in PII or name in NEG:
                value = (PII.get(name) or NEG[name])()
                if name in PII:
                    pii.append({"kind": PII_KIND.get(name, name), "value": value})
                else:
                    keep.append(value)
                out.append(value)
                i = end + 1
                continue
        out.append(template[i])
        i += 1
    return {"text": "".join(out), "pii": pii, "keep": keep}


lines = []
for round_ in range(4):
    for index, template in enumerate(TEMPLATES):
        line = render(template)
        line["id"] = f"t{index:02d}-{round_}"
        lines.append(line)
for line in lines:
    print(json.dumps({"id": line["id"], "text": line["text"], "pii": line["pii"], "keep": line["keep"]}, ensure_ascii=False))
