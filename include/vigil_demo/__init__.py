"""Demo data: the four bank feeds, day by day, with planted compliance cases.

``generate()`` writes ``<landing>/<feed>/<YYYY-MM-DD>/<table>.csv`` and a ``_manifest.json`` per
feed folder for ``days`` consecutive days, and ``<landing>/_demo/planted.json`` naming every planted
case. docs/demo-data.md describes the population, its daily evolution and each planted case.

How it stays fast, small and reproducible:

* Deterministic: every choice comes from a 64-bit hash of (seed, purpose, index) or from a
  ``random.Random`` seeded that way. Nothing reads the clock or the global RNG.
* Streaming: snapshot tables are regenerated every day from the entity index. Employee i's
  identity, accounts, entitlements, assets and ratings are a pure function of (seed, i, day) plus a
  few sparse events (joiners, leavers, movers, RM handovers), so memory holds only those events,
  the organisation chart (one byte per team of ten) and the planted cases. Bulk tables (clients,
  complaints) draw their randomness from a ``random.Random`` per block of rows.
* Clean background: organic data never breaks a rule a planted case tests (leavers are revoked
  on time, nobody holds both payment_create and payment_approve, complaints are handled within
  14 days, ...), so a downstream test can expect the flagged set to equal the planted set.
  Departure-risk factors are the exception: they feed a score, and organic employees carry some.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from vigil.ingest.contract import TABLES_BY_FEED
from vigil_demo.complainants import plant as plant_complainants_and_incidents

__all__ = ["SCALES", "Scale", "generate", "SYSTEMS", "PRIVILEGED_ENTITLEMENTS", "POSITION_LEVELS"]


# ---------------------------------------------------------------------------------------- scales


@dataclass(frozen=True)
class Scale:
    """Approximate first-day volumes; the generator derives its per-entity ratios from them."""

    name: str
    employees: int
    accounts: int
    entitlements: int
    clients: int
    complaints: int  # complaints received in the 365 days before start (the first day's load)
    branches: int


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("tiny", 150, 600, 2_400, 800, 600, 8),
        Scale("small", 1_000, 5_000, 20_000, 10_000, 10_000, 20),
        Scale("medium", 100_000, 500_000, 2_000_000, 1_000_000, 1_000_000, 120),
        Scale("large", 500_000, 2_000_000, 8_000_000, 5_000_000, 5_000_000, 300),
        Scale("xl", 2_000_000, 7_000_000, 17_000_000, 10_000_000, 10_000_000, 600),
    )
}

# ------------------------------------------------------------------------------ reference data

DEPARTMENTS = (
    "Retail Banking", "Private Banking", "Payments Operations", "Lending", "Treasury",
    "Compliance", "IT", "Finance", "Human Resources", "Customer Service", "Executive",
)
RET, PB, PAY, LEN, TRE, COMP, IT, FIN, HR, CS, EXEC = range(11)
_DEPT_SLUG = ("retail", "private", "payments", "lending", "treasury", "compliance", "it", "finance",
              "hr", "service", "exec")
_DEPT_WEIGHTS = (25, 8, 8, 10, 4, 6, 12, 6, 4, 17)  # share of teams, Executive excluded

_MEMBER_POSITIONS: dict[int, tuple[tuple[str, int], ...]] = {
    RET: (("Branch Advisor", 5), ("Senior Branch Advisor", 2), ("Cashier", 3)),
    PB: (("Relationship Manager", 1),),
    PAY: (("Payments Officer", 5), ("Senior Payments Officer", 2), ("Payments Supervisor", 2)),
    LEN: (("Credit Analyst", 4), ("Senior Credit Analyst", 2), ("Loan Officer", 3)),
    TRE: (("Treasury Dealer", 3), ("Treasury Analyst", 2)),
    COMP: (("Compliance Analyst", 3), ("Senior Compliance Analyst", 1)),
    IT: (("Software Engineer", 5), ("Systems Administrator", 2), ("Service Desk Analyst", 3)),
    FIN: (("Accountant", 3), ("Financial Controller", 1)),
    HR: (("HR Advisor", 2), ("HR Business Partner", 1)),
    CS: (("Contact Centre Agent", 5), ("Complaints Handler", 2)),
}
_LEAD_POSITION = {
    RET: "Branch Manager", PB: "Private Banking Team Lead", PAY: "Payments Team Lead",
    LEN: "Lending Team Lead", TRE: "Treasury Team Lead", COMP: "Compliance Team Lead",
    IT: "IT Team Lead", FIN: "Finance Team Lead", HR: "HR Team Lead", CS: "Customer Service Team Lead",
}
_CEO = "Chief Executive Officer"
_EXEC_MEMBERS = ("Chief Operating Officer", "Chief Financial Officer", "Chief Risk Officer",
                 "Chief Information Officer", "Chief Compliance Officer", "Chief People Officer",
                 "Executive Assistant", "Strategy Manager", "Executive Assistant")
RM_POSITION = "Relationship Manager"

#: Seniority of every position, so that a move to a lower level reads as a demotion downstream.
POSITION_LEVELS: dict[str, int] = {
    **{p: 1 for d in _MEMBER_POSITIONS.values() for p, _ in d},
    "Senior Branch Advisor": 2, "Senior Payments Officer": 2, "Payments Supervisor": 2,
    "Senior Credit Analyst": 2, "Senior Compliance Analyst": 2, "Financial Controller": 2,
    "HR Business Partner": 2,
    **{p: 3 for p in _LEAD_POSITION.values()},
    **{f"Head of {DEPARTMENTS[d]}": 4 for d in _LEAD_POSITION},
    **{p: 5 for p in _EXEC_MEMBERS}, "Executive Assistant": 1, "Strategy Manager": 2,
    _CEO: 6,
}

SYSTEMS = ("AD", "Email", "HRIS", "CoreBanking", "Payments", "CRM", "Treasury", "DataWarehouse",
           "ComplaintsHub")
_SYS = {s: i for i, s in enumerate(SYSTEMS)}

#: (system, entitlement) pairs that make an account privileged.
PRIVILEGED_ENTITLEMENTS: frozenset[tuple[str, str]] = frozenset({
    ("AD", "domain_admin"), ("CoreBanking", "admin"), ("DataWarehouse", "dwh_admin"),
    ("Payments", "payment_create"), ("Payments", "payment_approve"), ("Treasury", "deal_approve"),
    ("HRIS", "hr_admin"), ("CRM", "crm_admin"),
})

_HRIS = "HRIS: self_service payslip_view leave_request expense_claim"
_HRIS_MGR = "HRIS: self_service team_approvals payslip_view leave_request expense_claim"
_DWH = "DataWarehouse: dwh_reader report_builder dashboard_view data_export"
_CRM_VIEW = "CRM: client_view case_log report_view"
_CB_VIEW = "CoreBanking: account_view statement_print customer_search"
_CH_VIEW = "ComplaintsHub: case_view case_log case_search"

# Systems beyond AD and Email, most important first, as "System: entitlement ...". An account
# holds a prefix of its list, so every holder of a position has the first entitlement.
_ROLES: dict[str, tuple[str, ...]] = {
    "Branch Advisor": ("CoreBanking: account_view account_open cash_deposit statement_print customer_search",
                       "CRM: client_view case_log lead_capture report_view", _CH_VIEW, _HRIS),
    "Senior Branch Advisor": ("CoreBanking: account_view account_open account_maintain overdraft_limit_set"
                              " customer_search",
                              "CRM: client_view case_log lead_capture report_view", _CH_VIEW, _HRIS),
    "Cashier": ("CoreBanking: teller cash_deposit cash_withdrawal account_view customer_search", _CRM_VIEW, _HRIS),
    "Branch Manager": ("CoreBanking: account_view account_maintain overdraft_limit_set teller_supervise"
                       " customer_search",
                       "CRM: client_view case_log report_view pipeline_view",
                       "ComplaintsHub: case_view case_close case_reassign case_search", _DWH, _HRIS_MGR),
    "Relationship Manager": ("CRM: client_view client_edit pipeline_edit report_view meeting_log", _CB_VIEW,
                             "Treasury: deal_view fx_quote market_data", _DWH, _HRIS),
    "Private Banking Team Lead": ("CRM: client_view client_edit client_reassign report_view pipeline_view", _CB_VIEW,
                                  _DWH, _HRIS_MGR),
    "Payments Officer": ("Payments: payment_create payment_view payment_template_edit payment_report payment_search",
                         _CB_VIEW, _DWH, _HRIS),
    "Senior Payments Officer": ("Payments: payment_create payment_view payment_repair payment_template_edit"
                                " payment_report",
                                _CB_VIEW, _DWH, _HRIS),
    "Payments Supervisor": ("Payments: payment_approve payment_view payment_release_queue payment_report"
                            " payment_search",
                            _CB_VIEW, _DWH, _HRIS),
    "Payments Team Lead": ("Payments: payment_view payment_report payment_release_queue limits_view payment_search",
                           _CB_VIEW, _DWH, _HRIS_MGR),
    "Credit Analyst": ("CoreBanking: loan_view account_view collateral_view credit_score_view customer_search", _DWH,
                       _CRM_VIEW, _HRIS),
    "Senior Credit Analyst": ("CoreBanking: loan_view account_view collateral_edit credit_score_view customer_search",
                              _DWH, _CRM_VIEW, _HRIS),
    "Loan Officer": ("CoreBanking: loan_booking loan_view account_view collateral_edit customer_search",
                     "CRM: client_view case_log lead_capture", _DWH, _HRIS),
    "Lending Team Lead": ("CoreBanking: loan_view loan_limit_approve account_view collateral_view customer_search",
                          _CRM_VIEW, _DWH, _HRIS_MGR),
    "Treasury Dealer": ("Treasury: deal_entry deal_view market_data fx_quote position_view", _CB_VIEW, _DWH, _HRIS),
    "Treasury Analyst": ("Treasury: deal_view market_data risk_report position_view", _DWH, _CB_VIEW, _HRIS),
    "Treasury Team Lead": ("Treasury: deal_approve deal_view market_data position_view limits_view", _DWH, _CB_VIEW,
                           _HRIS_MGR),
    "Compliance Analyst": ("DataWarehouse: dwh_reader report_builder audit_log_view dashboard_view", _CRM_VIEW,
                           _CH_VIEW, _CB_VIEW, _HRIS),
    "Senior Compliance Analyst": ("DataWarehouse: dwh_reader report_builder audit_log_view dwh_sensitive_read",
                                  _CRM_VIEW, _CH_VIEW, _CB_VIEW, _HRIS),
    "Compliance Team Lead": ("DataWarehouse: dwh_reader report_builder audit_log_view dashboard_view", _CH_VIEW,
                             _CRM_VIEW, _HRIS_MGR),
    "Software Engineer": ("DataWarehouse: dwh_reader dwh_developer report_builder dashboard_view",
                          "CoreBanking: test_env_access account_view batch_monitor", _HRIS),
    "Systems Administrator": ("CoreBanking: admin batch_monitor job_scheduler account_view",
                              "DataWarehouse: dwh_admin dwh_reader report_builder", _HRIS),
    "Service Desk Analyst": (_HRIS, _CB_VIEW, _CH_VIEW),
    "IT Team Lead": ("CoreBanking: batch_monitor account_view job_scheduler_view", _DWH, _HRIS_MGR),
    "Accountant": ("CoreBanking: gl_posting gl_view account_view reconciliation", _DWH,
                   "Payments: payment_view payment_report payment_search", _HRIS),
    "Financial Controller": ("CoreBanking: gl_view gl_close account_view reconciliation", _DWH,
                             "Payments: payment_view payment_report payment_search", _HRIS),
    "Finance Team Lead": ("CoreBanking: gl_view gl_close account_view", _DWH, _HRIS_MGR),
    "HR Advisor": ("HRIS: employee_records_view self_service leave_approve payslip_view expense_claim", _DWH),
    "HR Business Partner": ("HRIS: hr_admin employee_records_view self_service payslip_view leave_approve", _DWH),
    "HR Team Lead": ("HRIS: employee_records_view leave_approve self_service team_approvals payslip_view", _DWH),
    "Contact Centre Agent": ("CRM: client_view case_log callback_schedule report_view", _CH_VIEW, _CB_VIEW, _HRIS),
    "Complaints Handler": ("ComplaintsHub: case_view case_handle case_close case_log case_search",
                           "CRM: client_view case_log callback_schedule", _CB_VIEW, _HRIS),
    "Customer Service Team Lead": ("ComplaintsHub: case_view case_reassign case_close case_search", _CRM_VIEW,
                                   _CB_VIEW, _DWH, _HRIS_MGR),
}
_EXEC_ROLE = (_DWH, "CRM: client_view report_view", _HRIS_MGR)


def _parse_role(spec: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((system, tuple(ents.split())) for system, ents in (s.split(": ") for s in spec))


_ROLE_SYSTEMS = {position: _parse_role(spec) for position, spec in _ROLES.items()}
_EXEC_SYSTEMS = _parse_role(_EXEC_ROLE)

_ACCOUNT_ID_FORMAT = {  # per system, so ids look like each system's own
    "AD": "ad-{:08x}", "Email": "mbx-{:08x}", "HRIS": "HR{:010d}", "CoreBanking": "CB{:010d}",
    "Payments": "PAY-{:08X}", "CRM": "crm{:010d}", "Treasury": "TRS-{:08X}",
    "DataWarehouse": "dwh_{:08x}", "ComplaintsHub": "CH{:010d}",
}
_SERVICE_ACCOUNTS = (  # (system, purpose, entitlements) cycled to make the svc_ accounts
    ("CoreBanking", "batch", ("batch_run", "account_view")),
    ("Payments", "payments_gateway", ("payment_file_upload", "payment_view")),
    ("AD", "backup", ("service_logon",)),
    ("DataWarehouse", "etl", ("etl_writer", "dwh_reader")),
    ("CRM", "crm_sync", ("crm_sync", "client_view")),
    ("Email", "mail_relay", ("mail_relay",)),
)

_FIRST = ("Anna", "James", "Maria", "David", "Sophie", "Oliver", "Emma", "Lucas", "Chloé", "Mateo",
          "Aisha", "Mohammed", "Olga", "Ivan", "Zoë", "Liam", "Noah", "Mia", "Ella", "Jonas", "Lena",
          "Priya", "Arjun", "Fatima", "Omar", "Sara", "Tomás", "Inés", "Björn", "Astrid", "Siobhán",
          "Ciarán", "Nadia", "Yusuf", "Elif", "Mehmet", "Hannah", "Ben", "Grace", "Jack", "Freya",
          "Oscar", "Amelia", "Harry", "Isla", "George", "Ava", "Leo", "Ruby", "Finn", "Léa", "Hugo",
          "Chiara", "Marco", "Agnieszka", "Piotr", "Katarzyna", "Jan", "Eva", "Nikos")
_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
         "Khan", "Müller", "Schmidt", "García", "Fernández", "Rossi", "Bianchi", "Dubois", "Lefèvre",
         "Nowak", "Kowalski", "Novák", "Jensen", "Hansen", "Andersson", "Virtanen", "O'Connor",
         "O'Neill", "MacDonald", "Murphy", "Kelly", "Singh", "Sharma", "Ahmed", "Hussain", "Yilmaz",
         "Demir", "Papadopoulos", "Ivanova", "Petrov", "Costa", "Silva", "Santos", "Nguyen", "Tran",
         "Kim", "Park", "Chen", "Wang", "Li", "Zhang", "Tanaka", "Suzuki", "Sato", "Okafor", "Mensah",
         "Adeyemi", "Cohen", "Levi", "van Dijk", "de Vries")
_CJK = ("王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "佐藤花子", "鈴木一郎", "高橋美咲", "田中健",
        "이서연", "박지훈", "최민서", "정우진")
_COMPANY_A = ("Northwind", "Harbour", "Granite", "Silverline", "Bluebird", "Oakfield", "Meridian",
              "Summit", "Riverside", "Ironbridge", "Sterling", "Beacon", "Crescent", "Evergreen",
              "Highland", "Kestrel", "Lighthouse", "Maple", "Orchard", "Pinnacle")
_COMPANY_B = ("Logistics", "Holdings", "Capital", "Foods", "Engineering", "Textiles", "Pharma",
              "Shipping", "Energy", "Media", "Properties", "Analytics", "Motors", "Partners", "Retail")
_COMPANY_C = ("Ltd", "plc", "LLP", "GmbH", "S.A.", "B.V.", "Inc.", "& Co")
_NID_LETTERS = "ABCEGHJKLMNPRSTWXYZ"
_EMAIL_DOMAIN = "vigil-bank.example"

_CATEGORIES = ("fraud", "credit_dispute", "mis_selling", "fees", "service", "data_privacy", "other")
_CATEGORY_WEIGHTS = (12, 12, 10, 20, 30, 6, 10)
_PRODUCTS = {
    "fraud": ("current_account", "credit_card", "online_banking"),
    "credit_dispute": ("credit_card", "personal_loan", "mortgage"),
    "mis_selling": ("insurance", "investment", "mortgage"),
    "fees": ("current_account", "overdraft", "credit_card"),
    "service": ("current_account", "mobile_app", "branch_service"),
    "data_privacy": ("online_banking", "marketing"),
    "other": ("other",),
}
# Disputed amount in cents: base + r * multiplier // divisor for a random r < 2**20, so that fee
# complaints stay small (5-530) and mis-selling ones do not (500-52,900).
_AMOUNTS = {"fees": (500, 1, 20), "credit_dispute": (2_000, 1, 1), "fraud": (5_000, 2, 1),
            "mis_selling": (50_000, 5, 1)}
# Organic complaints never arrive by regulator or media: those are planted (external escalation).
_ORGANIC_CHANNELS = ("phone",) * 30 + ("online",) * 25 + ("email",) * 15 + ("branch",) * 20 + ("letter",) * 10
_OUTCOMES = ("upheld",) * 11 + ("partially_upheld",) * 7 + ("rejected",) * 12 + ("withdrawn",) * 2

#: The planted complaint surge and its near miss use branch/category pairs organic data never uses.
SURGE = ("B003", "fees")
SURGE_NEAR_MISS = ("B005", "data_privacy")

TEAM = 10  # employees per team; employee i is in team i // TEAM and i % TEAM == 0 leads it
_BLOCK = 2048  # rows per random.Random block in the bulk tables, and per write batch

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_TIMES = tuple(f"T{m // 60:02d}:{m % 60:02d}:00Z" for m in range(1440))
_DAY = 1440  # times are minutes since start 00:00Z; day o covers [o*_DAY, (o+1)*_DAY)


# ------------------------------------------------------------------------------------- helpers


def _mix(x: int) -> int:
    """SplitMix64 finaliser: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _key(seed: int, *parts: object) -> int:
    """A 64-bit key for one purpose; blake2b of the repr, so it does not depend on PYTHONHASHSEED."""
    return int.from_bytes(hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest(), "big")


def _perm32(x: int, salt: int) -> int:
    """A bijection on 32-bit integers: distinct inputs give distinct, random-looking ids."""
    x = (x ^ salt) & _M32
    x = (x * 0x9E3779B1) & _M32
    x ^= x >> 15
    x = (x * 0x85EBCA77) & _M32
    x ^= x >> 13
    return x


def _ascii(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if c.isascii() and c.isalnum()).lower()


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


_FIRST_ASCII = tuple(_ascii(n) for n in _FIRST)
_LAST_ASCII = tuple(_ascii(n) for n in _LAST)
_PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9'\- ]* [A-Za-z][A-Za-z0-9'\-]*$")


def _email_for(name: str, num: int) -> str:
    """first.last@ for plain names, an opaque address for names no mail system would take."""
    if _PLAIN_NAME.match(name):
        first, last = name.split(" ", 1)
        return f"{_ascii(first)}.{last.lower().replace(' ', '')}@{_EMAIL_DOMAIN}"
    return f"e{num}@{_EMAIL_DOMAIN}"


def _weighted_table(items: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    return tuple(name for name, w in items for _ in range(w))


class _Calendar:
    """Offsets (days from start) to date strings, weekdays and timestamps, precomputed."""

    LO = -12_000  # earliest offset any date can take (hire dates reach back ~27 years)

    def __init__(self, start: date, days: int) -> None:
        self.start = start
        n = days + 800 - self.LO
        first = start + timedelta(days=self.LO)
        self.dates = [(first + timedelta(days=i)).isoformat() for i in range(n)]
        wd = first.weekday()
        self.weekdays = bytes((wd + i) % 7 for i in range(n))

    def d(self, o: int | None) -> str:
        return "" if o is None else self.dates[o - self.LO]

    def ts(self, t: int | None) -> str:
        if t is None:
            return ""
        o, m = divmod(t, _DAY)
        return self.dates[o - self.LO] + _TIMES[m]

    def is_bday(self, o: int) -> bool:
        return self.weekdays[o - self.LO] < 5

    def add_bdays(self, o: int, n: int) -> int:
        """The n-th business day after o (before o when n < 0); n == 0 gives o itself."""
        step = 1 if n > 0 else -1
        while n:
            o += step
            if self.is_bday(o):
                n -= step
        return o


_NEEDS_QUOTING = re.compile(r'[,"\r\n]')
_ROW_BUFFER = io.StringIO()
_ROW_WRITER = csv.writer(_ROW_BUFFER, lineterminator="\n")


def _csv_line(row: tuple) -> str:
    """One row through csv.writer (RFC 4180 quoting), for rows whose text needs it."""
    _ROW_BUFFER.seek(0)
    _ROW_BUFFER.truncate()
    _ROW_WRITER.writerow(row)
    return _ROW_BUFFER.getvalue()


class _Sink:
    """One CSV file, written from ready "a,b,c\n" lines; the bytes are hashed as they are written.

    Lines are joined directly, which is about five times faster than csv.writer. That is only
    correct for values that need no quoting: ids, dates, timestamps, enumerations, numbers and
    names without a comma, quote or line break. Rows whose free text has one of those go through
    _csv_line (the writers check with _NEEDS_QUOTING), and the tests re-serialise every file with
    csv.writer to prove the bytes are the same.
    """

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb")
        self._sha = hashlib.sha256()
        self._buf = io.StringIO()
        self._buf.write(_csv_line(header))
        self.rows = 0

    def write(self, lines: list[str]) -> None:
        self._buf.write("".join(lines))
        self.rows += len(lines)
        if self._buf.tell() > 1 << 20:
            self._flush()

    def _flush(self) -> None:
        data = self._buf.getvalue().encode("utf-8")
        self._sha.update(data)
        self._file.write(data)
        self._buf.seek(0)
        self._buf.truncate()

    def close(self) -> dict:
        self._flush()
        self._file.close()
        return {"rows": self.rows, "sha256": self._sha.hexdigest()}


# ------------------------------------------------------------------------------ planted cases
#
# Offsets are days relative to the last day L (0 = L, -30 = thirty days before it); times are
# minutes after midnight UTC. A planted employee holds every system and entitlement of their
# position, so no case depends on a random draw. See docs/demo-data.md for what each should trigger.

_PLANTED_EMPLOYEES: tuple[tuple[str, int, str, dict], ...] = (
    # 1. leavers whose access lingers (LA1 privileged, LA3 terminated exactly on the last day)
    ("LA1", PAY, "Payments Supervisor", dict(notice=-60, term=-30, reason="resignation", linger="all", keep_priv=True,
                                              name="Carol Canary-0001", national_id="CANARY-NID-0001")),
    ("LA2", RET, "Branch Advisor", dict(term=-7, reason="dismissal", linger="all", name='=HYPERLINK("http://x")',
                                         logins=[("CRM", 0, 8 * 60 + 55)])),
    ("LA3", IT, "Systems Administrator", dict(notice=-28, term=0, reason="resignation", linger="all", keep_priv=True,
                                               name="+SUM(1)")),
    ("LA4", CS, "Complaints Handler", dict(notice=-40, term=-2, reason="resignation", linger=("ComplaintsHub", "CRM"))),
    # 2. leavers revoked on time (control)
    ("RV1", LEN, "Loan Officer", dict(notice=-50, term=-20, reason="resignation")),
    ("RV2", TRE, "Treasury Dealer", dict(notice=-31, term=-1, reason="resignation")),
    ("RV3", FIN, "Accountant", dict(notice=-90, term=0, reason="retirement")),
    # 3. notice with privileged access; NPC is the control (privileges removed at notice)
    ("NP1", PAY, "Payments Officer", dict(notice=-10, term=20, reason="resignation", keep_priv=True,
                                           name="Colin Canary-0002", national_id="CANARY-NID-0002")),
    ("NP2", IT, "Systems Administrator", dict(notice=-3, term=25, reason="resignation", keep_priv=True, name="@cmd")),
    ("NPC", HR, "HR Business Partner", dict(notice=-5, term=30, reason="resignation")),
    # 4. a login after termination (PT1, and LA2 above); PTB logs in on the termination day itself
    ("PT1", TRE, "Treasury Analyst", dict(notice=-30, term=-2, reason="resignation", name='Jean "JJ" Dupont',
                                           disable={"AD": (0, 16 * 60)}, logins=[("AD", -1, 9 * 60 + 12)])),
    ("PTB", COMP, "Compliance Analyst", dict(notice=-29, term=-1, reason="resignation", disable_minute=18 * 60,
                                              logins=[("AD", -1, 15 * 60 + 40)])),
    # 6. dormant accounts: system -> (created, last login or None for never)
    ("DA1", LEN, "Credit Analyst", dict(dormant={"DataWarehouse": (-400, -120), "CRM": (-200, None)})),
    ("DA2", RET, "Senior Branch Advisor", dict(dormant={"ComplaintsHub": (-500, -91)})),
    ("DB", FIN, "Financial Controller", dict(dormant={"DataWarehouse": (-500, -90)})),
    # 7. access creep: moved, kept a right of the old position that no peer in the new one holds
    ("AC1", PAY, "Payments Officer", dict(move=(-45, RET, "Branch Advisor"), keep={"Payments": ("payment_create",)},
                                           name="山田太郎")),
    ("AC2", IT, "Systems Administrator", dict(move=(-100, COMP, "Compliance Analyst"), keep={"AD": ("domain_admin",)},
                                               name="Anna\nMaria Svensson")),
    # 8. segregation of duties: payment_create and payment_approve held together
    ("SD1", PAY, "Payments Supervisor", dict(extra_ents={("Payments", 0): [("payment_create", -200)]}, name="-2+3")),
    ("SD2", PAY, "Senior Payments Officer", dict(extra_accounts=[("Payments", 1, -50)],
                                                  extra_ents={("Payments", 1): [("payment_approve", -50)]})),
    ("SD3", FIN, "Accountant", dict(extra_ents={("Payments", 0): [("payment_create", -300),
                                                                  ("payment_approve", -120)]})),
    # 9. assets: type -> days after termination it came back (None = not returned)
    ("UA1", RET, "Cashier", dict(notice=-40, term=-10, reason="resignation", assets={"laptop": None})),
    ("UA2", LEN, "Senior Credit Analyst", dict(term=-20, reason="dismissal", assets={"token": 6})),
    ("UB", COMP, "Senior Compliance Analyst", dict(notice=-42, term=-12, reason="resignation", assets={"laptop": 3})),
    ("UN", CS, "Contact Centre Agent", dict(notice=-29, term=-1, reason="resignation", assets={"laptop": None})),
    # 10. relationship managers who left; handover in business days after termination (None = none)
    ("RD1", PB, RM_POSITION, dict(notice=-70, term=-40, reason="resignation", handover=None, name="王小明")),
    ("RD2", PB, RM_POSITION, dict(notice=-55, term=-25, reason="resignation", handover=8)),
    ("RH1", PB, RM_POSITION, dict(notice=-50, term=-20, reason="resignation", handover=1, name="O'Brien, Siobhán")),
    ("RHB", PB, RM_POSITION, dict(notice=-60, term=-30, reason="resignation", handover=5)),
    ("RH2", PB, RM_POSITION, dict(notice=-160, term=-130, reason="retirement", handover=1)),
    # 11. departure risk: DR1 has all four factors, DR2..DR5 one each; DRM is the manager who left
    ("DRM", LEN, "Lending Team Lead", dict(notice=-60, term=-30, reason="resignation")),
    ("DR1", LEN, "Senior Credit Analyst", dict(etype="fixed_term", contract_end=30, move=(-60, LEN, "Credit Analyst"),
                                               ratings=(4, 2), manager="DRM", name="김민준")),
    ("DR2", RET, "Branch Advisor", dict(ratings=(5, 3))),
    ("DR3", PAY, "Payments Team Lead", dict(move=(-20, PAY, "Payments Officer"), ratings=(3, 3))),
    ("DR4", LEN, "Loan Officer", dict(manager="DRM", ratings=(3, 4))),
    ("DR5", COMP, "Compliance Analyst", dict(etype="fixed_term", contract_end=45, ratings=(3, 3))),
)

# (key, relationship manager, segment, client_name, closed: days after the RM's termination)
_PLANTED_CLIENTS: tuple[tuple[str, str | None, str, str, int | None], ...] = (
    ("PC1", "RD1", "private", '=HYPERLINK("http://x")', None),
    ("PC2", "RD1", "private", "+SUM(1)", 25),
    ("PC3", "RD1", "corporate", "@cmd", None),
    ("PC4", "RD2", "private", "-2+3", None),
    ("PC5", "RD2", "corporate", "株式会社山田", None),
    ("PC6", "RH1", "private", "김민준", None),
    ("PC7", "RH1", "corporate", "Smith, Jones & Co", None),
    ("PC8", "RHB", "private", 'The "Best" Bakery Ltd', None),
    ("PC9", "RH2", "private", "Line\nBreak Holdings", 100),
    ("PC10", "RH2", "private", "王小明", 60),
    ("PC11", None, "retail", "Canary-0005 Holdings Ltd", None),
)

# (key, full_name, national_id, phone, insider_link)
_PLANTED_COMPLAINANTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("PA", "Cleo Canary-0003", "CANARY-NID-0003", "+44 7700 900001", "false"),
    ("PB", "=cmd|' /C calc'!A0", "QQ123456C", "+44 7123 456789", "false"),
    ("PN", "Harriet Lane", "QQ654321A", "+44 7234 567890", "false"),
    ("I1", "Cyril Canary-0004", "CANARY-NID-0004", "+44 7700 900002", "true"),
    ("I2", "李雷", "QQ111222B", "+44 7345 678901", "true"),
)

# (key, complainant key or None for a fresh one, received (day, minute), channel, category, branch,
#  employee key, escalated_externally, later states: (days after received, minute, status))
_PLANTED_COMPLAINTS: tuple[tuple, ...] = (
    # 12a. repeat complainants: PA three in the trailing year, PB four; PN's oldest is outside it
    ("RA1", "PA", (-200, 600), "phone", "fraud", "B001", None, False, "1 in_progress, 6 resolved, 20 closed"),
    ("RA2", "PA", (-100, 610), "online", "credit_dispute", "", None, False, "1 in_progress, 8 resolved, 25 closed"),
    ("RA3", "PA", (-5, 620), "phone", "fraud", "B002", None, False, "1 in_progress"),
    ("RB1", "PB", (-300, 630), "branch", "service", "B001", None, False, "2 resolved, 10 closed"),
    ("RB2", "PB", (-150, 640), "email", "fees", "", None, False, "1 in_progress, 5 resolved, 9 closed"),
    ("RB3", "PB", (-60, 650), "phone", "fraud", "B002", None, False, "1 in_progress, 9 resolved, 12 closed"),
    ("RB4", "PB", (-1, 660), "online", "credit_dispute", "", None, False, ""),
    ("RN1", "PN", (-366, 670), "letter", "fees", "", None, False, "3 resolved, 30 closed"),
    ("RN2", "PN", (-200, 680), "phone", "service", "B001", None, False, "2 resolved, 5 closed"),
    ("RN3", "PN", (-10, 690), "phone", "fraud", "B002", None, False, "1 in_progress, 7 resolved"),
    # 12b. complainants with an insider link
    ("IL1", "I1", (-12, 700), "email", "mis_selling", "", "NP1", False, "1 in_progress, 8 resolved"),
    ("IL2", "I2", (-3, 710), "branch", "fraud", "B004", "LA2", False, ""),
    # 12c. escalated outside the bank (EX3 arrived by phone and was escalated later)
    ("EX1", None, (-40, 720), "regulator", "mis_selling", "", None, True, "1 in_progress, 15 resolved, 30 closed"),
    ("EX2", None, (-8, 730), "media", "data_privacy", "", None, True, "2 in_progress"),
    ("EX3", None, (-50, 740), "phone", "fees", "B006", None, True, "1 in_progress, 30 resolved"),
    # 12d. open complaints: OV1/OV2 overdue (> 15 days), OVB received exactly 15 days before L
    ("OV1", None, (-20, 750), "letter", "service", "B001", None, False, ""),
    ("OV2", None, (-45, 760), "email", "other", "", None, False, ""),
    ("OVB", None, (-15, 770), "phone", "fees", "B002", None, False, ""),
    # 12e. a surge of five on L against two in the trailing 28 days; a near miss of four on L-1
    ("SB1", None, (-20, 600), "branch", SURGE[1], SURGE[0], None, False, "1 in_progress, 5 resolved, 8 closed"),
    ("SB2", None, (-10, 600), "branch", SURGE[1], SURGE[0], None, False, "1 in_progress, 5 resolved, 8 closed"),
    *((f"SG{i + 1}", None, (0, m), "branch", SURGE[1], SURGE[0], None, False, "")
      for i, m in enumerate((545, 620, 705, 790, 870))),
    ("NB1", None, (-12, 600), "online", SURGE_NEAR_MISS[1], SURGE_NEAR_MISS[0], None, False,
     "1 in_progress, 4 resolved"),
    *((f"NM{i + 1}", None, (-1, m), "online", SURGE_NEAR_MISS[1], SURGE_NEAR_MISS[0], None, False, "")
      for i, m in enumerate((560, 640, 730, 815))),
)

#: Report-text canaries: free text that is not PII reaches reports (the complaint's product is
#: printed in the review pack's deadline-breach list), so two overdue complaints carry a CJK product
#: and a spreadsheet-formula payload (no comma or double quote: the row needs no CSV quoting).
#: planted.json lists them under cases.formula_injection_texts.
_PLANTED_PRODUCTS = {"OV1": "手机银行", "OV2": "=2+5+cmd|' /C calc'!A0"}

_PLANTED_ID_BASE = 90_000_000  # planted complaints C90000001.., complainants P90000001..
_ASSET_PREFIX = {"laptop": "LT", "badge": "BG", "token": "TK", "phone": "PH"}
_ORPHAN_ENTITLEMENTS = {"AD": ("domain_users", "vpn_access"), "CoreBanking": ("account_view",),
                        "CRM": ("client_view", "case_log"), "Email": ("mailbox",)}


@dataclass
class _Plant:
    """What a planted employee does differently from an organic one (systems by index)."""

    key: str
    linger: frozenset[int] = frozenset()  # accounts left enabled after termination
    disable: dict[int, int] = field(default_factory=dict)  # explicit disabled_at (minutes)
    disable_minute: int = 17 * 60 + 30  # otherwise revoked on the termination day at 17:30
    keep: dict[int, tuple[str, ...]] = field(default_factory=dict)  # rights kept across a move
    keep_priv: bool = False  # privileged entitlements survive notice
    extra_ents: dict[tuple[int, int], list[tuple[str, int]]] = field(default_factory=dict)
    extra_accounts: list[tuple[int, int, int]] = field(default_factory=list)  # (system, variant, created)
    dormant: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # (created, last login) offsets
    logins: list[tuple[int, int, int]] = field(default_factory=list)  # (system, variant, minute)
    assets: dict[str, int | None] = field(default_factory=dict)
    ratings: tuple[int, int] | None = None  # (previous, latest) as of the last day
    name: str | None = None
    national_id: str | None = None


class _Emp:
    """An employee over the whole run; rendered to rows one day at a time."""

    __slots__ = ("idx", "num", "eid", "etype", "hire", "contract_end", "roles", "notice", "term",
                 "reason", "leave", "k", "entbits", "term_dt", "ident", "refresh", "perf", "ov")

    def __init__(self, idx: int, eid: str) -> None:
        self.idx, self.num, self.eid = idx, idx + 1, eid
        self.ov: _Plant | None = None
        self.notice = self.term = self.reason = self.leave = self.contract_end = self.term_dt = None
        self.refresh = 0


def _running_count(days: list[int], n: int) -> list[int]:
    """For each day 0..n-1, how many of the (sorted) event days are on or before it."""
    out, i = [], 0
    for d in range(n):
        while i < len(days) and days[i] <= d:
            i += 1
        out.append(i)
    return out


def _count(rng: random.Random, lam: float) -> int:
    """A whole number of events with mean lam."""
    return int(lam) + (rng.random() < lam - int(lam))


class _World:
    """Everything derived from (scale, start, days, seed) that the daily writers share."""

    def __init__(self, scale: Scale, start: date, days: int, seed: int) -> None:
        self.scale, self.start, self.days, self.seed = scale, start, days, seed
        self.L = days - 1  # offset of the last day
        self.cal = _Calendar(start, days)
        self.k_core, self.k_ext, self.k_ident, self.k_hist, self.k_perf, self.k_repeat = (
            _key(seed, p) for p in ("core", "ext", "ident", "hist", "perf", "repeat"))
        self.id_offset = _key(seed, "numeric-ids") % 29
        k_login = _key(seed, "login")
        self.salt = [_mix(k_login + i) for i in range(len(self.cal.dates))]
        # Chance (of 65536) to log in on each day: AD and Email ~90% on weekdays, other systems
        # ~55%, everything ~3% at weekends.
        weekend = [wd >= 5 for wd in self.cal.weekdays]
        self.login_chance_core = [2000 if w else 58000 for w in weekend]
        self.login_chance_other = [2000 if w else 36000 for w in weekend]
        self.N0, self.N0c = scale.employees, scale.clients
        # Per-entity ratios that land the first day's volumes near the scale's targets.
        extra = scale.accounts / scale.employees - 2.0  # systems beyond AD and Email
        self.k_systems = tuple(max(0, int(extra - 1 + 3 * (u + 0.5) / 100)) for u in range(100))
        per_account = scale.entitlements / scale.accounts
        # Disabled accounts hold none (~10% of accounts), and at four or more per account the
        # positions' short entitlement lists cap the draw: aim a little higher to compensate.
        per_account /= 0.9 if per_account < 3 else 0.8
        self.n_ents = tuple(max(1, int(per_account - 1 + 3 * (u + 0.5) / 16)) for u in range(16))
        self._templates: dict[tuple[str, int], tuple] = {}
        self.planted: dict[int, _Emp] = {}
        self._periods()
        self._org()
        self._choose_slots()
        self._events()
        self._rm_pool()
        self._plant_employees()
        self._clients_plan()
        self._plant_clients()
        self._complaints_plan()
        self._plant_complaints()
        self._plant_accounts()

    # =================================================================== organisation and events

    def _periods(self) -> None:
        """Half-year ends (rating periods) as offsets; ratings are published 45 days later."""
        self.period_ends = sorted(
            (date(y, m, d) - self.start).days
            for y in range(self.start.year - 6, self.start.year + self.days // 365 + 2)
            for m, d in ((6, 30), (12, 31)))

    def _org(self) -> None:
        """Teams of ten in one department each; team 0 is the executive team under the CEO."""
        self.n_teams = (self.N0 + TEAM - 1) // TEAM
        rng = random.Random(_key(self.seed, "org"))
        order = list(range(10))
        rng.shuffle(order)  # the first ten teams cover every department, even at tiny scale
        cum = [sum(_DEPT_WEIGHTS[: i + 1]) for i in range(10)]
        depts = bytearray(self.n_teams)
        depts[0] = EXEC
        for t in range(1, self.n_teams):
            depts[t] = order[t - 1] if t <= 10 else bisect_right(cum, rng.random() * cum[-1])
        self.team_dept = depts
        self.dept_teams: list[list[int]] = [[] for _ in DEPARTMENTS]
        for t in range(self.n_teams):
            self.dept_teams[depts[t]].append(t)
        self.head_idx = {d: teams[0] * TEAM for d, teams in enumerate(self.dept_teams) if d != EXEC}
        self.member_table = {d: _weighted_table(p) for d, p in _MEMBER_POSITIONS.items()}

    def eid(self, idx: int) -> str:
        """Employee ids are text: mostly E0001234, about 1 in 29 purely numeric (0001234)."""
        num = idx + 1
        return f"{num:07d}" if (idx + self.id_offset) % 29 == 0 else f"E{num:07d}"

    def account_id(self, sys_i: int, num: int, variant: int = 0) -> str:
        return _ACCOUNT_ID_FORMAT[SYSTEMS[sys_i]].format(_perm32(num * 4 + variant, 0x5A17 * (sys_i + 1)))

    def _core(self, idx: int) -> tuple[int, int, int, int, int, int, int, int]:
        """Employment basics of an initial employee from one hash, so events can sample cheaply."""
        v = _mix(self.k_core + idx)
        v, et = divmod(v, 100)  # < 85 permanent, < 93 fixed_term, else contractor
        v, cls = divmod(v, 100)  # < 8 left before start, < 10 on long leave, else active
        v, span = divmod(v, 9000)
        v, back = divmod(v, 730)
        v, reason = divmod(v, 100)
        v, cend = divmod(v, 720)
        v, pick = divmod(v, 100)
        v, dis = divmod(v, 6)
        if idx < TEAM or idx % TEAM == 0:  # executives and team leaders are permanent and stay
            et, cls = 0, 99
        return et, cls, span, back, reason, cend, pick, dis

    def _history(self, idx: int) -> tuple[int | None, int, int, int]:
        """(offset of a move before start or None, old department, old position pick, laptop age)."""
        v = _mix(self.k_hist + idx)
        v, flag = divmod(v, 100)
        v, back = divmod(v, 900)
        v, old_d = divmod(v, 9)
        v, old_pick = divmod(v, 100)
        v, refresh = divmod(v, 1000)
        moved = -(30 + back) if flag < 12 and idx >= TEAM and idx % TEAM else None
        return moved, old_d, old_pick, refresh

    def _eligible(self, idx: int) -> bool:
        """May this initial employee take part in an organic event (leave, move, be a peer)?"""
        if idx < TEAM or idx % TEAM == 0 or idx in self.slot_set or idx in self.taken:
            return False
        et, cls = self._core(idx)[:2]
        return et < 85 and cls >= 10

    def _position(self, idx: int, team: int, pick: int, member: bool = False) -> tuple[int, str, int | None]:
        """(department, position, manager index) from the team structure."""
        d = self.team_dept[team]
        if not member:
            if idx == 0:
                return EXEC, _CEO, None
            if team == 0:
                return EXEC, _EXEC_MEMBERS[idx - 1], 0
            if idx % TEAM == 0:
                if self.head_idx[d] == idx:
                    return d, f"Head of {DEPARTMENTS[d]}", 0
                return d, _LEAD_POSITION[d], self.head_idx[d]
        table = self.member_table[d]
        return d, table[pick % len(table)], team * TEAM

    def template(self, position: str, dept: int) -> tuple:
        """A position's accounts: ((system index, ((entitlement, privileged), ...)), ...)."""
        tpl = self._templates.get((position, dept))
        if tpl is None:
            slug = _DEPT_SLUG[dept]
            ad = ["domain_users", f"fs_{slug}", "vpn_access", "wifi_corporate", "printing"]
            if position == "Systems Administrator":
                ad.insert(1, "domain_admin")
            elif position == "Service Desk Analyst":
                ad.insert(1, "password_reset")
            mail = ("mailbox", f"dl_{slug}", f"shared_{slug}", "teams_user", "calendar_delegate")
            systems = (("AD", tuple(ad[:5])), ("Email", mail), *_ROLE_SYSTEMS.get(position, _EXEC_SYSTEMS))
            tpl = tuple((_SYS[s], tuple((e, (s, e) in PRIVILEGED_ENTITLEMENTS) for e in ents))
                        for s, ents in systems)
            self._templates[(position, dept)] = tpl
        return tpl

    def _choose_slots(self) -> None:
        """Initial employees (never leaders) whose places the planted employees take."""
        rng = random.Random(_key(self.seed, "plant-slots"))
        self.slots: list[int] = []
        self.slot_set: set[int] = set()
        while len(self.slots) < len(_PLANTED_EMPLOYEES):
            idx = rng.randrange(TEAM, self.N0)
            if idx % TEAM and idx not in self.slot_set:
                self.slot_set.add(idx)
                self.slots.append(idx)

    def _events(self) -> None:
        """Sparse organic HR events: leavers (until 60 days after the run), movers and joiners."""
        cal, L, N0 = self.cal, self.L, self.N0
        self.taken: set[int] = set()
        self.leavers: dict[int, tuple[int | None, int, str]] = {}  # idx -> (notice, termination, reason)
        self.movers: dict[int, tuple[int, int, str, int]] = {}  # idx -> (day, department, position, team)
        self.joiners: list[tuple[int, int]] = []  # (hire day, team) of employee N0 + j
        rate = N0 * 0.12 / 250  # ~12% yearly attrition (and as many joiners), on business days

        def pick(rng: random.Random, ok: Callable[[int], bool]) -> int | None:
            for _ in range(30):
                idx = rng.randrange(TEAM, N0)
                if self._eligible(idx) and ok(idx):
                    return idx
            return None

        for o in range(0, L + 61):
            if not cal.is_bday(o):
                continue
            rng = random.Random(_key(self.seed, "leavers", o))
            for _ in range(_count(rng, rate)):
                idx = pick(rng, lambda i: True)
                if idx is None:
                    continue
                self.taken.add(idx)
                r = rng.random()
                if r < 0.72:
                    self.leavers[idx] = (o - rng.randrange(28, 91), o, "resignation")
                elif r < 0.80:
                    self.leavers[idx] = (None, o, "dismissal")
                elif r < 0.90:
                    self.leavers[idx] = (o - rng.randrange(60, 121), o, "retirement")
                else:
                    self.leavers[idx] = (o - rng.randrange(14, 31), o, "other")
        for o in range(0, L + 1):
            if not cal.is_bday(o):
                continue
            rng = random.Random(_key(self.seed, "movers", o))
            for _ in range(_count(rng, rate / 2)):
                idx = pick(rng, lambda i: self.team_dept[i // TEAM] != PB and self._history(i)[0] is None)
                if idx is None:
                    continue
                # Take a peer's position in another department, so the mover has peers there.
                own = self.team_dept[idx // TEAM]
                peer = pick(rng, lambda i: self.team_dept[i // TEAM] not in (PB, own))
                if peer is None:
                    continue
                self.taken.add(idx)
                d, pos, _ = self._position(peer, peer // TEAM, self._core(peer)[6], member=True)
                self.movers[idx] = (o, d, pos, peer // TEAM)
            rng = random.Random(_key(self.seed, "joiners", o))
            for _ in range(_count(rng, rate)):
                self.joiners.append((o, rng.randrange(1, self.n_teams)))
        self.joined_by = _running_count([o for o, _ in self.joiners], L + 1)

    def _rm_pool(self) -> None:
        """Relationship managers serving organic clients, and the handovers when they leave."""
        pool, hist = [], []
        for t in self.dept_teams[PB]:
            for idx in range(t * TEAM + 1, min((t + 1) * TEAM, self.N0)):
                et, cls, span, back = self._core(idx)[:4]
                if idx in self.slot_set or et >= 85:
                    continue
                if cls < 8:
                    hist.append((idx, -(1 + back)))  # left before start: a previous RM
                elif cls >= 10:
                    pool.append(idx)
        head = self.head_idx[PB]
        self.rm_pool = pool or [head]
        self.rm_hire = {i: self._emp(i).hire for i in self.rm_pool}
        self.rm_hist = hist
        self.rm_stable = [i for i in self.rm_pool if i not in self.leavers] or [head]
        rng = random.Random(_key(self.seed, "handover"))
        self.rm_moves: dict[int, tuple[int, int, int]] = {}  # rm -> (termination, handover, successor)
        for idx in sorted(i for i in self.rm_pool if i in self.leavers):
            term = self.leavers[idx][1]
            # Organic RMs hand their book over during notice, by their last day at the latest.
            handover = max(0, self.cal.add_bdays(term, rng.choice((-3, -2, -1, 0))))
            self.rm_moves[idx] = (term, handover, self.rm_stable[rng.randrange(len(self.rm_stable))])

    # ================================================================================ employees

    def n_employees(self, D: int) -> int:
        return self.N0 + self.joined_by[D]

    def emp(self, idx: int) -> _Emp:
        """Employee idx over the whole run (planted, initial or joiner)."""
        e = self.planted.get(idx)
        return e if e is not None else self._emp(idx)

    def _emp(self, idx: int) -> _Emp:
        e = _Emp(idx, self.eid(idx))
        ext = _mix(self.k_ext + idx)
        e.entbits = ext & ((1 << 36) - 1)  # 4 bits per system: how many entitlements
        e.k = self.k_systems[(ext >> 36) % 100]  # how many systems beyond AD and Email
        e.ident = _mix(self.k_ident + idx)
        e.perf = _mix(self.k_perf + idx)
        et, cls, span, back, reason, cend, pick, dis = self._core(idx)
        if idx >= self.N0:  # a joiner
            hire, team = self.joiners[idx - self.N0]
            d, pos, mgr = self._position(idx, team, pick, member=True)
            e.hire, e.roles = hire, [(hire, d, pos, mgr)]
            e.etype = "permanent" if et < 90 else "fixed_term"
            if et >= 90:
                e.contract_end = e.term = hire + 365
                e.reason = "contract_end"
        else:
            d, pos, mgr = self._position(idx, idx // TEAM, pick)
            hire = -(30 + span * span // 9000)  # skewed towards recent hires
            if idx < TEAM or idx % TEAM == 0:  # executives and team leaders have been around
                hire -= 730
            e.etype = "permanent" if et < 85 else "fixed_term" if et < 93 else "contractor"
            if cls < 8:  # left before the run started
                e.term = -(1 + back)
                hire = e.term - 60 - span * span // 9000
                e.reason = ("resignation", "dismissal", "retirement", "other")[bisect_right((70, 78, 90), reason)]
                if e.etype != "permanent":
                    e.contract_end, e.reason = e.term, "contract_end"
            elif e.etype != "permanent":  # leaves when the contract ends, maybe during the run
                e.contract_end = cend % 540 if e.etype == "fixed_term" else cend
                hire = min(hire, e.contract_end - 180 - span % 900)
                e.term, e.reason = e.contract_end, "contract_end"
            elif cls < 10 and -(5 + back % 296) > hire + 30:
                e.leave = -(5 + back % 296)  # on long leave (parental, sick) through the run
            e.hire = hire
            e.roles = [(hire, d, pos, mgr)]
            moved, old_d, old_pick, e.refresh = self._history(idx)
            if moved is not None and hire + 90 < moved and (e.term is None or moved < e.term):
                old_d = (d + 1 + old_d) % 10 if d != EXEC else old_d
                old_pos = self.member_table[old_d][old_pick % len(self.member_table[old_d])]
                old_team = self.dept_teams[old_d][old_pick % len(self.dept_teams[old_d])]
                e.roles = [(hire, old_d, old_pos, old_team * TEAM), (moved, d, pos, mgr)]
            left = self.leavers.get(idx)
            if left is not None:
                e.notice, e.term, e.reason = left
                if e.notice is not None and e.notice < hire + 7:  # nobody resigns before starting
                    e.notice = min(hire + 7, e.term)
            move = self.movers.get(idx)
            if move is not None:
                o, nd, npos, nteam = move
                e.roles.append((o, nd, npos, nteam * TEAM))
        if e.term is not None:  # two thirds revoked the same evening, a third the next morning
            if dis < 4 or e.term >= self.L:  # ... but never pending over the last day
                e.term_dt = e.term * _DAY + 1020 + idx * 7 % 180
            else:
                e.term_dt = (e.term + 1) * _DAY + 450 + idx * 11 % 150
        return e

    def identity(self, e: _Emp) -> tuple[str, str, str, str]:
        """(full name, national id, email, username)."""
        v = e.ident
        v, f = divmod(v, len(_FIRST))
        v, la = divmod(v, len(_LAST))
        v, cjk = divmod(v, 100)
        v, cjk_pick = divmod(v, len(_CJK))
        v, digits = divmod(v, 1_000_000)
        v, l1 = divmod(v, 19)
        v, l2 = divmod(v, 19)
        v, l3 = divmod(v, 4)
        num, ov = e.num, e.ov
        nid = f"{_NID_LETTERS[l1]}{_NID_LETTERS[l2]}{digits:06d}{'ABCD'[l3]}"
        if ov is not None and ov.name is not None:
            plain = _PLAIN_NAME.match(ov.name)
            user = f"{_ascii(ov.name.split(' ')[-1])[:8]}{num}" if plain else f"u{num}"
            return ov.name, ov.national_id or nid, _email_for(ov.name, num), user
        if cjk < 2:
            return _CJK[cjk_pick], nid, f"e{num}@{_EMAIL_DOMAIN}", f"u{num}"
        fa, lb = _FIRST_ASCII[f], _LAST_ASCII[la]
        return f"{_FIRST[f]} {_LAST[la]}", nid, f"{fa}.{lb}.{num}@{_EMAIL_DOMAIN}", f"{fa[0]}{lb[:7]}{num}"

    def status(self, e: _Emp, D: int) -> str:
        if e.term is not None and e.term <= D:
            return "terminated"
        if e.notice is not None and e.notice <= D:
            return "notice"
        if e.leave is not None and e.leave <= D:
            return "leave"
        return "active"

    def account_states(self, e: _Emp, D: int) -> list[tuple]:
        """e's accounts at the end of day D, with their entitlements and day D's logins.

        Each item: (system, variant, account_id, status, created, disabled, last_login,
        [(entitlement, privileged, granted)], [(minute, outcome)]), times in minutes since start.
        """
        end = (D + 1) * _DAY
        ov = e.ov
        roles = e.roles
        ri = len(roles) - 1
        while roles[ri][0] > D:
            ri -= 1
        k = 99 if ov is not None else e.k
        # system -> [created, dropped by a move]; dict order = order of first appearance
        accts: dict[int, list] = {}
        for i in range(ri + 1):
            start, dept, pos = roles[i][0], roles[i][1], roles[i][2]
            present = self.template(pos, dept)[: 2 + k]
            for sys_i, _ in present:
                if sys_i not in accts:
                    at = e.hire * _DAY + 420 if i == 0 else start * _DAY + 540  # 07:00 / 09:00
                    accts[sys_i] = [at + 3 * sys_i, None]
            if i:
                now = {s for s, _ in present}
                for sys_i, a in accts.items():
                    if a[1] is None and sys_i not in now and not (ov is not None and sys_i in ov.keep):
                        a[1] = start * _DAY + 1080  # deprovisioned on the move day at 18:00
        current = dict(self.template(roles[ri][2], roles[ri][1])[: 2 + k])
        role_start = roles[ri][0] * _DAY
        on_leave = e.leave is not None and e.leave <= D and (e.term is None or e.term > D)
        revoke_priv = e.notice is not None and e.notice <= D and not (ov is not None and ov.keep_priv)
        # People log in on working days up to and including their termination day, not on leave.
        last_work = D if e.term is None else min(D, e.term)
        if e.leave is not None and e.leave <= last_work:
            last_work = e.leave - 1
        items = [(s, 0, a[0], a[1]) for s, a in accts.items()]
        if ov is not None:
            items += [(s, v, c, None) for s, v, c in ov.extra_accounts]
        out = []
        for sys_i, variant, created, disabled in items:
            dormant = ov.dormant.get(sys_i) if ov is not None and variant == 0 else None
            if dormant is not None:
                created = dormant[0] * _DAY + 600
            if created >= end:
                continue
            if e.term is not None:
                if ov is None:
                    t_dis = e.term_dt
                elif sys_i in ov.disable and variant == 0:
                    t_dis = ov.disable[sys_i]
                elif sys_i in ov.linger:
                    t_dis = None
                else:
                    t_dis = e.term * _DAY + ov.disable_minute
                if t_dis is not None and (disabled is None or t_dis < disabled):
                    disabled = t_dis
            if disabled is not None and disabled >= end:
                disabled = None
            ents = []
            if disabled is None:  # deprovisioning removes the entitlements with the account
                role_ents = current.get(sys_i) if variant == 0 else None
                if role_ents:
                    n = len(role_ents) if ov is not None else self.n_ents[(e.entbits >> (4 * sys_i)) & 15]
                    regrant = accts[sys_i][0] < role_start  # the account predates the current position
                    for j, (name, priv) in enumerate(role_ents[:n]):
                        if priv and revoke_priv:
                            continue
                        if regrant and not (j == 0 and sys_i < 2):  # baseline AD/Email rights stay
                            ents.append((name, priv, role_start + 600 + j))
                        else:
                            ents.append((name, priv, created + 1 + j))
                if ov is not None:
                    extra = [(n, created + 30) for n in ov.keep.get(sys_i, ())] if variant == 0 else []
                    extra += ov.extra_ents.get((sys_i, variant), [])
                    for name, granted in extra:
                        ents.append((name, (SYSTEMS[sys_i], name) in PRIVILEGED_ENTITLEMENTS, granted))
            status = "disabled" if disabled is not None else "locked" if on_leave else "enabled"
            active_until = last_work if disabled is None else min(last_work, disabled // _DAY)
            if ov is None:
                logins: list = []
                last = self._scan(((e.num << 5) | (sys_i << 1)) * 0x9E3779B97F4A7C15, sys_i, created, disabled,
                                  D, active_until, logins)
            else:
                logins, last = self._planted_logins(e, sys_i, variant, created, disabled, D, active_until, dormant)
            out.append((sys_i, variant, self.account_id(sys_i, e.num, variant), status, created,
                        disabled, last, ents, logins))
        return out

    def _planted_logins(self, e: _Emp, sys_i: int, variant: int, created: int, disabled: int | None, D: int,
                        last_work: int, dormant: tuple | None) -> tuple[list, int | None]:
        """Day D's logins and last_login_at of a planted employee's account: the organic pattern
        plus the planted logins (which replace that day's organic one), or none when dormant."""
        logins: list[tuple[int, str]] = []
        last = None
        explicit_days: set[int] = set()
        for s, v, t in e.ov.logins:
            if s == sys_i and v == variant and t < (D + 1) * _DAY:
                explicit_days.add(t // _DAY)
                if t // _DAY == D:
                    logins.append((t, "success"))
                last = t if last is None or t > last else last
        if dormant is not None:
            return logins, None if dormant[1] is None else dormant[1] * _DAY + 600
        akey = ((e.num << 5) | (sys_i << 1) | variant) * 0x9E3779B97F4A7C15
        found = self._scan(akey, sys_i, created, disabled, D, last_work, logins, explicit_days)
        return logins, found if last is None or (found is not None and found > last) else last

    def _scan(self, akey: int, sys_i: int, created: int, disabled: int | None, D: int, last_work: int,
              logins: list, skip: set[int] | frozenset = frozenset()) -> int | None:
        """Walk back from the last working day to the latest login; add day D's events to logins.

        Whether an account logs in on day o, and when, is a cheap multiply-xorshift hash of
        (account, o): no state, so any day's last_login_at agrees with every day's logins.csv.
        """
        salt, LO = self.salt, _Calendar.LO
        chance = self.login_chance_core if sys_i < 2 else self.login_chance_other
        hi = disabled if disabled is not None else 1 << 62
        o = last_work
        lowest = max(created // _DAY, last_work - 45)
        while o >= lowest:
            h = ((akey ^ salt[o - LO]) * 0xBF58476D1CE4E5B9) & _M64
            h ^= h >> 31
            if (h >> 48) < chance[o - LO] and o not in skip:
                t = o * _DAY + 480 + (h >> 16) % 660  # between 08:00 and 18:59
                if created < t < hi:
                    if o == D:
                        if (h & 63) == 0:  # a mistyped password first, now and then
                            logins.append((t - 2, "failure"))
                        logins.append((t, "success"))
                    return t
            o -= 1
        return None

    def assets(self, e: _Emp, D: int) -> list[tuple[str, str, int, int | None]]:
        """(asset_id, type, issued, returned or None) for assets issued by day D."""
        hire, term, ov = e.hire, e.term, e.ov
        flags = e.ident >> 50
        items = []
        refresh = -(1 + e.refresh)
        if hire < -1100 and (term is None or refresh < term - 30):  # laptops are replaced every few years
            items += [(0, "laptop", hire, refresh), (1, "laptop", refresh, None)]
        else:
            items.append((1, "laptop", hire, None))
        items.append((2, "badge", hire, None))
        if flags & 1 or (ov is not None and "token" in ov.assets):
            items.append((3, "token", hire + 1, None))
        if (flags >> 1) % 10 < 3:
            items.append((4, "phone", hire + 2, None))
        out = []
        for slot, kind, issued, returned in items:
            if issued > D:
                continue
            if returned is None and term is not None:
                if ov is None:  # organic leavers hand everything back within two days
                    returned = max(issued, term + (e.ident >> 56) % 5 - 2)
                elif kind in ov.assets:
                    returned = None if ov.assets[kind] is None else term + ov.assets[kind]
                else:
                    returned = term
            if returned is not None and returned > D:
                returned = None
            out.append((f"{_ASSET_PREFIX[kind]}-{_perm32(e.num * 8 + slot, 0xA55E7):08X}", kind, issued, returned))
        return out

    def ratings(self, e: _Emp, D: int) -> list[tuple[int, int]]:
        """(period end, rating) of the last four half-years published by day D."""
        hi = D - 45 if e.term is None else min(D - 45, e.term)
        ends = self.period_ends
        i = bisect_right(ends, hi) - 1
        base = 2 + (e.ident >> 60) % 3
        out = []
        while i >= 0 and len(out) < 4 and ends[i] >= e.hire + 90:
            out.append((ends[i], min(5, max(1, base + (-1, 0, 0, 1)[(e.perf >> (2 * (i % 32))) & 3]))))
            i -= 1
        out.reverse()
        if e.ov is not None and e.ov.ratings is not None:
            override = dict(zip(self.last_two_periods(e), e.ov.ratings))
            out = [(p, override.get(p, r)) for p, r in out]
        return out

    def last_two_periods(self, e: _Emp) -> list[int]:
        hi = self.L - 45 if e.term is None else min(self.L - 45, e.term)
        return [p for p in self.period_ends if e.hire + 90 <= p <= hi][-2:]

    # ================================================================================ planting

    def _plant_employees(self) -> None:
        """Put the planted employees (see _PLANTED_EMPLOYEES) into their slots."""
        L = self.L
        self.pkey: dict[str, _Emp] = {}
        for n, (key, dept, position, s) in enumerate(_PLANTED_EMPLOYEES):
            idx = self.slots[n]
            e = _Emp(idx, self.eid(idx))
            e.ov = ov = _Plant(key=key, name=s.get("name"), national_id=s.get("national_id"),
                               keep_priv=s.get("keep_priv", False), ratings=s.get("ratings"),
                               disable_minute=s.get("disable_minute", 17 * 60 + 30),
                               assets=dict(s.get("assets", {})))
            e.ident = _mix(self.k_ident + idx)
            e.perf = _mix(self.k_perf + idx)
            e.k, e.entbits = 99, 0
            e.hire = L - 700 - 10 * n  # recent enough for a single laptop, old enough for ratings
            e.etype = s.get("etype", "permanent")
            e.contract_end = L + s["contract_end"] if "contract_end" in s else None
            e.notice = L + s["notice"] if "notice" in s else None
            e.term = L + s["term"] if "term" in s else None
            e.reason = s.get("reason")
            mgr = self.pkey[s["manager"]].idx if "manager" in s else self.head_idx[dept]
            e.roles = [(e.hire, dept, position, mgr)]
            if "move" in s:
                o, nd, npos = s["move"]
                e.roles.append((L + o, nd, npos, mgr if nd == dept else self.head_idx[nd]))
            linger = s.get("linger", ())
            ov.linger = frozenset(range(len(SYSTEMS))) if linger == "all" else frozenset(_SYS[x] for x in linger)
            ov.disable = {_SYS[x]: (L + o) * _DAY + m for x, (o, m) in s.get("disable", {}).items()}
            ov.keep = {_SYS[x]: v for x, v in s.get("keep", {}).items()}
            ov.extra_ents = {(_SYS[x], v): [(name, (L + o) * _DAY + 600) for name, o in ents]
                             for (x, v), ents in s.get("extra_ents", {}).items()}
            ov.extra_accounts = [(_SYS[x], v, (L + o) * _DAY + 540) for x, v, o in s.get("extra_accounts", ())]
            ov.dormant = {_SYS[x]: (L + c, None if last is None else L + last)
                          for x, (c, last) in s.get("dormant", {}).items()}
            ov.logins = [(_SYS[x], 0, (L + o) * _DAY + m) for x, o, m in s.get("logins", ())]
            self.planted[idx] = e
            self.pkey[key] = e
        # Handovers of the planted RMs' clients, to organic RMs who stay.
        rng = random.Random(_key(self.seed, "planted-handover"))
        self.p_handover: dict[str, tuple[int, int] | None] = {}
        for key, _, _, s in _PLANTED_EMPLOYEES:
            if "handover" in s:
                after = s["handover"]
                succ = self.rm_stable[rng.randrange(len(self.rm_stable))]
                term = self.pkey[key].term
                self.p_handover[key] = None if after is None else (self.cal.add_bdays(term, after), succ)

    def _plant_accounts(self) -> None:
        """Service accounts (svc_, no owner: not orphans) and the planted orphan accounts."""
        L = self.L
        n_svc = max(6, round(self.scale.accounts * 0.003))
        self.service = []
        for j in range(n_svc):
            system, purpose, ents = _SERVICE_ACCOUNTS[j % len(_SERVICE_ACCOUNTS)]
            user = f"svc_{purpose}_{j // len(_SERVICE_ACCOUNTS) + 1:02d}"
            self.service.append((_SYS[system], 90_000_000 + j, user, ents))
        numeric = next(i for i in range(1, self.N0) if not self.eid(i).startswith("E"))
        self.orphans = [  # (key, system, number, username, employee_id, created, disabled, reason)
            ("OR1", _SYS["AD"], 95_000_001, "jmorgan_old", "", L - 900, None, "no_owner"),
            ("OR2", _SYS["CoreBanking"], 95_000_002, "tkowalski", "E9000001", L - 700, None, "unknown_employee"),
            ("OR3", _SYS["CRM"], 95_000_003, "legacy_crm_user", str(int(self.eid(numeric))), L - 600, None,
             "employee_id_without_leading_zeros"),
            ("ORD", _SYS["Email"], 95_000_004, "shared_old", "", L - 2000, L - 400, "disabled"),
        ]
        self.orphan_numeric_owner = self.eid(numeric)

    def _plant_clients(self) -> None:
        """Clients of the planted RMs (see _PLANTED_CLIENTS), in slots among the initial clients."""
        rng = random.Random(_key(self.seed, "planted-clients"))
        slots = rng.sample(range(self.N0c), len(_PLANTED_CLIENTS))
        self.p_clients: dict[int, tuple] = {}
        self.p_client_key: dict[str, int] = {}
        for slot, (key, rm_key, segment, name, closed_after) in zip(slots, _PLANTED_CLIENTS):
            if rm_key is None:
                opened, rm, term = self.L - 1000, None, None
            else:
                rm_e = self.pkey[rm_key]
                opened, rm, term = rm_e.hire + 30, rm_e.idx, rm_e.term
            closed = None if closed_after is None else term + closed_after
            self.p_clients[slot] = (key, rm_key, segment, name, opened, rm, closed)
            self.p_client_key[key] = slot

    def _plant_complaints(self) -> None:
        L = self.L
        self.p_complainants: dict[str, tuple] = {}  # key -> (id, name, national_id, phone, client_id, insider)
        for n, (key, name, nid, phone, insider) in enumerate(_PLANTED_COMPLAINANTS):
            self.p_complainants[key] = (f"P{_PLANTED_ID_BASE + n + 1:08d}", name, nid, phone, "", insider)
        # (key, complaint_id, complainant key, channel, category, product, branch, employee_id,
        #  escalated_externally, amount, [(minute, status), ...])
        self.p_complaints = []
        fresh = len(_PLANTED_COMPLAINANTS)
        for n, planted in enumerate(_PLANTED_COMPLAINTS):
            key, who, (day, minute), channel, category, branch, emp_key, esc, later = planted
            if who is None:  # a first-time complainant with an ordinary name
                fresh += 1
                who = f"X{fresh}"
                first, last = _FIRST[(n * 7) % len(_FIRST)], _LAST[(n * 11) % len(_LAST)]
                self.p_complainants[who] = (f"P{_PLANTED_ID_BASE + fresh:08d}", f"{first} {last}",
                                            f"QQ{100000 + n:06d}D", f"+44 7456 {100000 + n:06d}", "", "false")
            received = (L + day) * _DAY + minute
            trans = [(received, "open")]
            for state in filter(None, later.split(", ")):
                after, status = state.split()
                trans.append(((L + day + int(after)) * _DAY + 600, status))
            emp = self.pkey[emp_key].eid if emp_key else ""
            amount = "1250.00" if category in _AMOUNTS else ""
            self.p_complaints.append((key, f"C{_PLANTED_ID_BASE + n + 1:08d}", who, channel, category,
                                      _PLANTED_PRODUCTS.get(key, _PRODUCTS[category][0]), branch, emp,
                                      "true" if esc else "false", amount, trans))
        self.p_first_received: dict[str, int] = {}  # complainant key -> their first complaint
        for _, _, who, *_, trans in self.p_complaints:
            self.p_first_received[who] = min(trans[0][0], self.p_first_received.get(who, trans[0][0]))

    # ================================================================================== clients

    def _clients_plan(self) -> None:
        rng = random.Random(_key(self.seed, "new-clients"))
        lam = self.N0c * 0.10 / 365
        self.new_clients = [o for o in range(self.L + 1) for _ in range(_count(rng, lam))]
        self.clients_by = [self.N0c + n for n in _running_count(self.new_clients, self.L + 1)]

    # =============================================================================== complaints

    def _complaints_plan(self) -> None:
        """Complaints per day (weekdays busier), and the branch/category mix without surges."""
        H, L = self.scale.complaints, self.L
        rng = random.Random(_key(self.seed, "complaint-days"))
        weights = [(1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.25)[self.cal.weekdays[o - _Calendar.LO]]
                   for o in range(-365, L + 1)]
        scale = H / sum(weights[:365])
        self.c_cum = [0]
        for w in weights:
            self.c_cum.append(self.c_cum[-1] + _count(rng, w * scale))
        # Branch x category, weighted; a low-discrepancy sequence picks them so that daily counts
        # per pair stay smooth (no organic surges). The planted surge pairs get no organic weight.
        self.branches = [f"B{b + 1:03d}" for b in range(self.scale.branches)]
        excluded = {SURGE, SURGE_NEAR_MISS}
        cum, total = [], 0.0
        for b, branch in enumerate(self.branches):
            for c, cat in enumerate(_CATEGORIES):
                if (branch, cat) not in excluded:
                    total += _CATEGORY_WEIGHTS[c] / (1 + b / 5)
                cum.append(total)
        self.combo_cum = [int(x / total * _M64) for x in cum]
        self.combo_offset = _key(self.seed, "combo")
        self.repeat_lag = max(1, H // 5)  # a repeat complaint comes ~73 days after the first

    def complaint_day_range(self, o: int) -> tuple[int, int]:
        i = min(max(o + 365, 0), len(self.c_cum) - 2)
        return self.c_cum[i], self.c_cum[i + 1]

    def first_complaint_of(self, k: int) -> int:
        """The complaint with which complaint k's complainant first complained.

        Complaint k comes from complaint k - lag's complainant when a hash of k says so, unless
        k - lag is itself such a repeat; so an odd run of hits walking back means k repeats. Nobody
        complains more than twice, and repeat complainants (three or more) are all planted.
        """
        lag, n, j = self.repeat_lag, 0, k
        while j >= lag and ((j ^ self.k_repeat) * 0x9E3779B97F4A7C15 & _M64) >> 57 < 15:
            n += 1
            j -= lag
        return k - lag if n % 2 else k

    # ================================================================================== writers
    # Hot loops: timestamps are built inline from the calendar's date strings (dates[o - LO] +
    # _TIMES[minute]) and closed-alphabet tables are written as ready lines (see _Sink).

    def write_people(self, D: int, sinks: dict[str, _Sink]) -> int:
        """hr/* and/or iam/* for day D (whichever sinks are given), employee by employee.

        Returns the number of employees on record that day.
        """
        hr, iam = "employees" in sinks, "accounts" in sinks
        out: dict[str, list[str]] = {t.name: [] for feed in ("hr", "iam") for t in TABLES_BY_FEED[feed]}

        def flush() -> None:
            for name, lines in out.items():
                if name in sinks:
                    sinks[name].write(lines)
                lines.clear()

        written = 0
        for idx in range(self.n_employees(D)):
            e = self.emp(idx)
            if e.hire > D:
                continue
            written += 1
            name, nid, email, user = self.identity(e)
            if hr:
                self._hr_lines(e, D, name, nid, email, out)
            if iam:
                self._account_lines(e, D, user, out["accounts"], out["entitlements"], out["logins"])
            if written % _BLOCK == 0:
                flush()
        if iam:
            self._unowned_accounts(D, out["accounts"], out["entitlements"], out["logins"])
        flush()
        return written

    def _hr_lines(self, e: _Emp, D: int, name: str, nid: str, email: str, out: dict[str, list[str]]) -> None:
        ds, dates, LO = self.cal.d, self.cal.dates, _Calendar.LO
        e_id, roles = e.eid, e.roles
        ri = len(roles) - 1
        while roles[ri][0] > D:
            ri -= 1
        _, dept, pos, mgr = roles[ri]
        status = self.status(e, D)
        gone = status == "terminated"
        row = (e_id, name, nid, email, DEPARTMENTS[dept], pos, "" if mgr is None else self.eid(mgr), e.etype,
               ds(e.hire), ds(e.contract_end), status, ds(e.notice) if e.notice is not None and e.notice <= D else "",
               ds(e.term) if gone else "", e.reason if gone else "")
        out["employees"].append(_csv_line(row) if _NEEDS_QUOTING.search(name) else ",".join(row) + "\n")
        moves = out["job_changes"]
        for i in range(1, ri + 1):
            moves.append(f"{e_id},{ds(roles[i][0])},{DEPARTMENTS[roles[i - 1][1]]},{DEPARTMENTS[roles[i][1]]},"
                         f"{roles[i - 1][2]},{roles[i][2]}\n")
        perf = out["performance"]
        for period, rating in self.ratings(e, D):
            perf.append(f"{e_id},{dates[period - LO]},{rating}\n")
        assets = out["assets"]
        for asset_id, kind, issued, returned in self.assets(e, D):
            assets.append(f"{asset_id},{e_id},{kind},{dates[issued - LO]},{ds(returned)}\n")

    def _account_lines(self, e: _Emp, D: int, user: str, accts: list, ents: list, logins: list) -> None:
        dates, LO, times, ts = self.cal.dates, _Calendar.LO, _TIMES, self.cal.ts
        e_id = e.eid
        for sys_i, variant, aid, st, created, disabled, last, held, events in self.account_states(e, D):
            system = SYSTEMS[sys_i]
            priv = "false"
            for ent, p, g in held:
                if p:
                    priv = "true"
                granted = dates[g // _DAY - LO] + times[g % _DAY]
                ents.append(f"{system},{aid},{ent},{'true' if p else 'false'},{granted}\n")
            accts.append(f"{aid},{system},{user if variant == 0 else f'{user}_{variant + 1}'},{e_id},{st},{priv},"
                         f"{ts(created)},{ts(last)},{ts(disabled)}\n")
            for t, outcome in events:
                logins.append(f"{system},{aid},{dates[t // _DAY - LO]}{times[t % _DAY]},{outcome}\n")

    def _unowned_accounts(self, D: int, accts: list, ents: list, logins: list) -> None:
        """Service accounts (a nightly batch login) and the planted orphan accounts."""
        ts = self.cal.ts
        for sys_i, num, user, held in self.service:
            system, aid = SYSTEMS[sys_i], self.account_id(sys_i, num)
            created = (-2000 + num % 500) * _DAY + 180
            t = D * _DAY + 120 + num % 50
            accts.append(f"{aid},{system},{user},,enabled,false,{ts(created)},{ts(t)},\n")
            ents.extend(f"{system},{aid},{ent},false,{ts(created + 1 + j)}\n" for j, ent in enumerate(held))
            logins.append(f"{system},{aid},{ts(t)},success\n")
        for _, sys_i, num, user, owner, created_o, disabled_o, _ in self.orphans:
            system, aid = SYSTEMS[sys_i], self.account_id(sys_i, num)
            created = created_o * _DAY + 600
            if created >= (D + 1) * _DAY:
                continue
            disabled = disabled_o * _DAY + 1080 if disabled_o is not None and disabled_o <= D else None
            events: list = []
            last = self._scan(num * 0x9E3779B97F4A7C15, sys_i, created, disabled, D,
                              D if disabled is None else disabled_o, events)
            status = "enabled" if disabled is None else "disabled"
            accts.append(f"{aid},{system},{user},{owner},{status},false,{ts(created)},{ts(last)},{ts(disabled)}\n")
            if disabled is None:
                ents.extend(f"{system},{aid},{ent},false,{ts(created + 1 + j)}\n"
                            for j, ent in enumerate(_ORPHAN_ENTITLEMENTS[system]))
            logins.extend(f"{system},{aid},{ts(t)},{outcome}\n" for t, outcome in events)

    def write_crm(self, D: int, clients: _Sink, assignments: _Sink) -> int:
        """crm/clients and crm/rm_assignments for day D; returns the number of clients."""
        ds, eid, cal = self.cal.d, self.eid, self.cal
        L, N0c = self.L, self.N0c
        pool, hist, moves, rm_hire = self.rm_pool, self.rm_hist, self.rm_moves, self.rm_hire
        n = self.clients_by[D]
        segments = ("retail", "private", "corporate", "institutional")
        for b0 in range(0, n, _BLOCK):
            rng = random.Random(_key(self.seed, "clients", b0 // _BLOCK))
            crows: list[str] = []  # organic names never need quoting
            arows: list[str] = []
            for c in range(b0, min(n, b0 + _BLOCK)):
                v = rng.getrandbits(192)  # always drawn, so every client keeps its own bits
                planted = self.p_clients.get(c)
                if planted is not None:
                    self._planted_client_rows(c, planted, D, crows, arows)
                    continue
                cid = f"CL{c + 1:08d}"
                v, seg_v = divmod(v, 100)
                seg = 0 if seg_v < 70 else 1 if seg_v < 82 else 2 if seg_v < 97 else 3
                v, f = divmod(v, len(_FIRST))
                v, la = divmod(v, len(_LAST))
                v, cjk = divmod(v, 100)
                v, cj = divmod(v, len(_CJK))
                v, ca = divmod(v, len(_COMPANY_A))
                v, cb = divmod(v, len(_COMPANY_B))
                v, cc = divmod(v, len(_COMPANY_C))
                v, back = divmod(v, 3650)
                v, hclosed = divmod(v, 100)
                v, cfrac = divmod(v, 10_000)
                v, rm_v = divmod(v, 100)
                v, rm_pick = divmod(v, 1 << 24)
                v, prev_v = divmod(v, 100)
                v, prev_pick = divmod(v, 1 << 16)
                v, aum_v = divmod(v, 1 << 20)
                v, closure = divmod(v, 4500)
                if seg >= 2:
                    name = f"{_COMPANY_A[ca]} {_COMPANY_B[cb]} {_COMPANY_C[cc]}"
                else:
                    name = _CJK[cj] if cjk < 2 else f"{_FIRST[f]} {_LAST[la]}"
                initial = c < N0c
                opened = -(1 + back) if initial else self.new_clients[c - N0c]
                closed = None
                if initial and hclosed < 6 and opened < -60:  # closed before the run
                    closed = opened + 30 + cfrac % (-opened - 30)
                rm = pool[rm_pick % len(pool)] if seg or rm_v < 10 else None
                if rm is not None and closed is not None and rm_hire[rm] >= closed:
                    rm = None  # closed before any of today's RMs was hired: none on record
                move = moves.get(rm) if rm is not None else None
                if move is not None and not initial and move[1] <= opened:
                    rm, move = move[2], None  # opened after the handover: straight to the successor
                prev = None
                if initial and rm is not None and closed is None and hist and prev_v < 20:
                    prm, pterm = hist[prev_pick % len(hist)]
                    ho = cal.add_bdays(pterm, 1)
                    if opened < ho - 1 and rm_hire[rm] < ho < 0:
                        prev = (prm, pterm, ho)
                if closed is None and 0 <= closure <= L and closure > opened:
                    # No organic churn around an RM's departure: only planted clients show that.
                    near = (move is not None and move[0] - 30 <= closure <= move[0] + 90) or (
                        prev is not None and closure <= prev[1] + 90)
                    if not near:
                        closed = closure
                is_closed = closed is not None and closed <= D
                handed = move is not None and move[1] <= D and (closed is None or closed > move[1])
                cur = move[2] if handed else rm
                if is_closed:
                    aum = "0.00"
                else:
                    aum = _money((aum_v * 5, 25_000_000 + aum_v * 400, 10_000_000 + aum_v * 2_000,
                                  500_000_000 + aum_v * 20_000)[seg])
                crows.append(f"{cid},{name},{segments[seg]},{'' if cur is None else eid(cur)},"
                             f"{'closed' if is_closed else 'active'},{ds(opened)},"
                             f"{ds(closed) if is_closed else ''},{aum}\n")
                if rm is None:
                    continue
                start = max(opened, rm_hire[rm]) if initial else opened
                if prev is not None:
                    arows.append(f"{cid},{eid(prev[0])},{ds(opened)},{ds(prev[2] - 1)}\n")
                    start = prev[2]
                end = move[1] - 1 if handed else closed if is_closed else None
                arows.append(f"{cid},{eid(rm)},{ds(start)},{ds(end)}\n")
                if handed:
                    arows.append(f"{cid},{eid(move[2])},{ds(move[1])},{ds(closed) if is_closed else ''}\n")
            clients.write(crows)
            assignments.write(arows)
        return n

    def _planted_client_rows(self, c: int, planted: tuple, D: int, crows: list, arows: list) -> None:
        ds, eid = self.cal.d, self.eid
        key, rm_key, segment, name, opened, rm, closed = planted
        cid = f"CL{c + 1:08d}"
        is_closed = closed is not None and closed <= D
        ho = self.p_handover.get(rm_key) if rm_key else None
        handed = ho is not None and ho[0] <= D and (closed is None or closed > ho[0])
        cur = ho[1] if handed else rm
        crows.append(_csv_line((cid, name, segment, "" if cur is None else eid(cur),
                                "closed" if is_closed else "active", ds(opened), ds(closed) if is_closed else "",
                                "0.00" if is_closed else "750000.00")))
        if rm is not None:
            end = ho[0] - 1 if handed else closed if is_closed else None
            arows.append(f"{cid},{eid(rm)},{ds(opened)},{ds(end)}\n")
            if handed:
                arows.append(f"{cid},{eid(ho[1])},{ds(ho[0])},{ds(closed) if is_closed else ''}\n")

    def write_complaints(self, D: int, complaints: _Sink, complainants: _Sink) -> int:
        """complaints/* for day D: everything so far on day 0, then only what changed that day."""
        eid = self.eid
        dates, LO, times = self.cal.dates, _Calendar.LO, _TIMES
        lo, end = D * _DAY, (D + 1) * _DAY
        first_day = D == 0
        N0, N0c, combo_cum, combo_offset = self.N0, self.N0c, self.combo_cum, self.combo_offset
        k_repeat, branches = self.k_repeat, self.branches
        last_combo = len(combo_cum) - 1
        statuses = ("open", "in_progress", "resolved", "closed")
        crows: list[str] = []
        prows: list[str] = []
        block, rng = -1, random.Random()
        n = 0
        for o in range(-365 if first_day else D - 40, D + 1):
            a, b = self.complaint_day_range(o)
            for k in range(a, b):
                if k // _BLOCK != block:  # complaints draw their bits block by block
                    block = k // _BLOCK
                    rng = random.Random(_key(self.seed, "complaints", block))
                    for _ in range(k - block * _BLOCK):
                        rng.getrandbits(256)
                v = rng.getrandbits(256)
                v, minute = divmod(v, 720)
                v, ch = divmod(v, 100)
                v, prod = divmod(v, 6)
                v, br_v = divmod(v, 100)
                v, emp_v = divmod(v, 100)
                v, emp_pick = divmod(v, 1 << 24)
                v, ip_v = divmod(v, 8)
                v, ip_days = divmod(v, 3)
                v, res_days = divmod(v, 13)
                v, cl_days = divmod(v, 20)
                v, m2 = divmod(v, 480)
                v, m3 = divmod(v, 480)
                v, m4 = divmod(v, 480)
                # open, in progress within 1-3 days (mostly), resolved within 2-14, then closed
                t_ip = (o + 1 + ip_days) * _DAY + 540 + m2 if ip_v else None
                res_day = o + 2 + res_days
                if t_ip is not None and res_day <= o + 1 + ip_days:
                    res_day = o + 2 + ip_days
                t_res = res_day * _DAY + 540 + m3
                state, t_state = -1, 0
                t_closed = (res_day + 1 + cl_days) * _DAY + 540 + m4
                for s, t in enumerate((o * _DAY + 480 + minute, t_ip, t_res, t_closed)):
                    if t is not None and t < end and (first_day or t >= lo):
                        state, t_state = s, t
                if state < 0:
                    continue
                v, outcome = divmod(v, 32)
                v, sat = divmod(v, 7)
                v, amount = divmod(v, 1 << 20)
                combo = bisect_right(combo_cum, (k * 0x9E3779B97F4A7C15 + combo_offset) & _M64)
                if combo > last_combo:
                    combo = last_combo
                channel = _ORGANIC_CHANNELS[ch]
                category = _CATEGORIES[combo % 7]
                products = _PRODUCTS[category]
                # Most complainants complain once; see first_complaint_of for the repeats.
                first = k if ((k ^ k_repeat) * 0x9E3779B97F4A7C15 & _M64) >> 57 >= 15 else self.first_complaint_of(k)
                done = state >= 2
                money = _AMOUNTS.get(category)
                crows.append(
                    f"C{k + 1:08d},P{first + 1:08d},{dates[o - LO]}{times[480 + minute]},"
                    f"{dates[t_state // _DAY - LO]}{times[t_state % _DAY]},{channel},{category},"
                    f"{products[prod % len(products)]},"
                    f"{branches[combo // 7] if channel == 'branch' or br_v < 60 else ''},"
                    f"{eid(1 + emp_pick % (N0 - 1)) if emp_v < 12 else ''},{statuses[state]},"
                    f"{dates[res_day - LO] + times[540 + m3] if done else ''},"
                    f"{_OUTCOMES[outcome] if done else ''},false,"
                    f"{sat - 1 if done and sat >= 2 else ''},"
                    f"{_money(money[0] + amount * money[1] // money[2]) if money else ''}\n")
                n += 1
                if first == k and (first_day or o == D):  # a new complainant arrives with it
                    v, f = divmod(v, len(_FIRST))
                    v, la = divmod(v, len(_LAST))
                    v, cjk = divmod(v, 100)
                    v, cj = divmod(v, len(_CJK))
                    v, digits = divmod(v, 1_000_000)
                    v, l1 = divmod(v, 19)
                    v, l2 = divmod(v, 19)
                    v, l3 = divmod(v, 4)
                    v, p3 = divmod(v, 600)
                    v, p6 = divmod(v, 1_000_000)
                    v, client_v = divmod(v, 100)
                    v, client_pick = divmod(v, 1 << 24)
                    v, insider_v = divmod(v, 100)
                    prows.append(  # organic names never need quoting; phones avoid the canary range
                        f"P{k + 1:08d},{_CJK[cj] if cjk < 2 else f'{_FIRST[f]} {_LAST[la]}'},"
                        f"{_NID_LETTERS[l1]}{_NID_LETTERS[l2]}{digits:06d}{'ABCD'[l3]},+44 7{100 + p3} {p6:06d},"
                        f"{f'CL{client_pick % N0c + 1:08d}' if client_v < 40 else ''},"
                        f"{'' if insider_v < 10 else 'false'}\n")
            if len(crows) >= _BLOCK:
                complaints.write(crows)
                complainants.write(prows)
                crows.clear()
                prows.clear()
        n += self._planted_complaint_rows(D, crows, prows)
        complaints.write(crows)
        complainants.write(prows)
        return n

    def _planted_complaint_rows(self, D: int, crows: list, prows: list) -> int:
        ts = self.cal.ts
        lo, end = D * _DAY, (D + 1) * _DAY
        n = 0
        for key, cid, who, channel, category, product, branch, emp, esc, amount, trans in self.p_complaints:
            state = None
            for t, st in trans:
                if t < end and (D == 0 or t >= lo):
                    state = (t, st)
            if state is None:
                continue
            done = state[1] in ("resolved", "closed")
            resolved_at = next((t for t, st in trans if st == "resolved"), None)
            crows.append(f"{cid},{self.p_complainants[who][0]},{ts(trans[0][0])},{ts(state[0])},{channel},{category},"
                         f"{product},{branch},{emp},{state[1]},{ts(resolved_at) if done else ''},"
                         f"{'upheld' if done else ''},{esc},{'2' if done else ''},{amount}\n")
            n += 1
        for who, first in self.p_first_received.items():
            if first < end and (D == 0 or first >= lo):
                prows.append(_csv_line(self.p_complainants[who]))
        return n

    # ================================================================================= summary

    def summary(self) -> dict:
        """planted.json: where each planted case is, in ids and dates a test can check."""
        L, ds, ts = self.L, self.cal.d, self.cal.ts
        P = self.pkey
        at_last = {key: self.account_states(e, L) for key, e in P.items()}

        def account(key: str, system: str, variant: int = 0) -> tuple:
            return next(a for a in at_last[key] if SYSTEMS[a[0]] == system and a[1] == variant)

        def person(key: str) -> dict:
            e = P[key]
            return {"key": key, "employee_id": e.eid}

        cases: dict[str, list] = {}
        cases["leavers_lingering_access"] = [
            {**person(key), "system": SYSTEMS[a[0]], "account_id": a[2], "termination_date": ds(P[key].term),
             "is_privileged": any(p for _, p, _ in a[7])}
            for key in ("LA1", "LA2", "LA3", "LA4") for a in at_last[key] if a[3] == "enabled"]
        cases["leavers_revoked_on_time"] = [
            {**person(key), "termination_date": ds(P[key].term),
             "accounts": [{"system": SYSTEMS[a[0]], "account_id": a[2], "disabled_at": ts(a[5])} for a in at_last[key]]}
            for key in ("RV1", "RV2", "RV3")]
        cases["notice_with_privileged"] = [
            {**person(key), "notice_date": ds(P[key].notice), "system": SYSTEMS[a[0]], "account_id": a[2],
             "entitlement": ent}
            for key in ("NP1", "NP2") for a in at_last[key] for ent, priv, _ in a[7] if priv]
        cases["notice_privileges_revoked"] = [{**person("NPC"), "notice_date": ds(P["NPC"].notice)}]
        cases["post_termination_login"] = []
        for key, system in (("PT1", "AD"), ("LA2", "CRM")):
            a = account(key, system)
            cases["post_termination_login"].append(
                {**person(key), "system": system, "account_id": a[2], "termination_date": ds(P[key].term),
                 "login_at": ts(P[key].ov.logins[0][2]), "last_login_at": ts(a[6]), "account_status": a[3]})
        a = account("PTB", "AD")
        cases["post_termination_login_boundary"] = [
            {**person("PTB"), "system": "AD", "account_id": a[2], "termination_date": ds(P["PTB"].term),
             "login_at": ts(P["PTB"].ov.logins[0][2]), "disabled_at": ts(a[5])}]
        cases["orphan_accounts"] = [
            {"key": key, "system": SYSTEMS[s], "account_id": self.account_id(s, num), "username": user,
             "employee_id": owner, "reason": reason,
             **({"similar_employee_id": self.orphan_numeric_owner} if reason.endswith("leading_zeros") else {})}
            for key, s, num, user, owner, _, disabled, reason in self.orphans if disabled is None]
        cases["orphan_accounts_disabled"] = [
            {"key": key, "system": SYSTEMS[s], "account_id": self.account_id(s, num), "username": user,
             "employee_id": owner}
            for key, s, num, user, owner, _, disabled, _ in self.orphans if disabled is not None]
        cases["service_accounts"] = [
            {"system": SYSTEMS[s], "account_id": self.account_id(s, num), "username": user}
            for s, num, user, _ in self.service[:10]]

        def dormant(key: str, system: str) -> dict:
            a = account(key, system)
            last = a[6]
            return {**person(key), "system": system, "account_id": a[2], "created_at": ts(a[4]),
                    "last_login_at": ts(last) or None,
                    "days_since_last_login": None if last is None else L - last // _DAY}

        cases["dormant_accounts"] = [dormant("DA1", "DataWarehouse"), dormant("DA2", "ComplaintsHub")]
        cases["dormant_accounts_boundary"] = [dormant("DB", "DataWarehouse")]
        cases["dormant_never_logged_in"] = [dormant("DA1", "CRM")]
        cases["access_creep"] = []
        for key in ("AC1", "AC2"):
            e = P[key]
            (_, od, op, _), (moved, nd, np_, _) = e.roles
            for system, names in e.ov.keep.items():
                a = account(key, SYSTEMS[system])
                for ent, _, granted in a[7]:
                    if ent in names:
                        cases["access_creep"].append(
                            {**person(key), "effective_date": ds(moved), "old_department": DEPARTMENTS[od],
                             "old_position": op, "new_department": DEPARTMENTS[nd], "new_position": np_,
                             "system": SYSTEMS[system], "account_id": a[2], "entitlement": ent,
                             "granted_at": ts(granted)})
        cases["sod_conflicts"] = []
        for key in ("SD1", "SD2", "SD3"):
            held = {"payment_create": [], "payment_approve": []}
            for a in at_last[key]:
                for ent, _, _ in a[7]:
                    if SYSTEMS[a[0]] == "Payments" and ent in held:
                        held[ent].append(a[2])
            cases["sod_conflicts"].append({**person(key), "system": "Payments", **held})

        def asset(key: str, kind: str) -> dict:
            e = P[key]
            aid, _, issued, returned = next(x for x in self.assets(e, L) if x[1] == kind)
            return {**person(key), "asset_id": aid, "asset_type": kind, "termination_date": ds(e.term),
                    "due_date": ds(e.term + 3), "returned_date": ds(returned) or None}

        cases["unreturned_assets"] = [asset("UA1", "laptop"), asset("UA2", "token")]
        cases["unreturned_assets_boundary"] = [asset("UB", "laptop")]
        cases["unreturned_assets_not_yet_due"] = [asset("UN", "laptop")]

        clients_of: dict[str, list[str]] = {}
        for key, rm_key, *_ in _PLANTED_CLIENTS:
            clients_of.setdefault(rm_key, []).append(key)
        cid = {key: f"CL{slot + 1:08d}" for key, slot in self.p_client_key.items()}

        def rm_case(key: str) -> dict:
            e, ho = P[key], self.p_handover[key]
            out = {**person(key), "termination_date": ds(e.term),
                   "client_ids": [cid[c] for c in clients_of[key]],
                   "active_client_ids": [cid[c] for c in clients_of[key]
                                         if self.p_clients[self.p_client_key[c]][6] is None]}
            if ho is None:
                return {**out, "handover_date": None, "successor_employee_id": None, "business_days": None}
            return {**out, "handover_date": ds(ho[0]), "successor_employee_id": self.eid(ho[1]),
                    "business_days": sum(1 for o in range(e.term + 1, ho[0] + 1) if self.cal.is_bday(o))}

        cases["rm_departed_no_handover"] = [rm_case("RD1"), rm_case("RD2")]
        cases["rm_departed_handover_done"] = [rm_case("RH1"), rm_case("RHB"), rm_case("RH2")]

        def churn(key: str) -> dict:
            _, rm_key, _, _, _, _, closed = self.p_clients[self.p_client_key[key]]
            term = P[rm_key].term
            return {"key": key, "client_id": cid[key], "rm_employee_id": P[rm_key].eid,
                    "rm_termination_date": ds(term), "closed_date": ds(closed), "days_after": closed - term}

        cases["churned_after_rm_departure"] = [churn("PC2"), churn("PC10")]
        cases["churn_outside_90_days"] = [churn("PC9")]
        risk = []
        for key, factors in (("DR1", ["performance_drop", "demotion", "contract_end_soon", "manager_left"]),
                             ("DR2", ["performance_drop"]), ("DR3", ["demotion"]), ("DR4", ["manager_left"]),
                             ("DR5", ["contract_end_soon"])):
            e = P[key]
            item = {**person(key), "factors": factors,
                    "ratings": {ds(p): r for p, r in self.ratings(e, L)[-2:]}}
            if len(e.roles) > 1:
                item["job_change"] = {"effective_date": ds(e.roles[1][0]), "old_position": e.roles[0][2],
                                      "new_position": e.roles[1][2]}
            if e.contract_end is not None:
                item["contract_end_date"] = ds(e.contract_end)
            mgr = e.roles[-1][3]
            if mgr in self.planted and self.planted[mgr].term is not None:
                item["manager_id"] = self.planted[mgr].eid
                item["manager_termination_date"] = ds(self.planted[mgr].term)
            risk.append(item)
        cases["departure_risk"] = risk
        cases["departed_manager"] = [{**person("DRM"), "termination_date": ds(P["DRM"].term)}]

        complaint = {key: (cid_, who, trans, channel, category, branch)
                     for key, cid_, who, channel, category, _, branch, *_, trans in self.p_complaints}

        def by_complainant(who: str) -> dict:
            mine = [(k, v) for k, v in complaint.items() if v[1] == who]
            return {"key": who, "complainant_id": self.p_complainants[who][0],
                    "complaint_ids": [v[0] for _, v in mine], "categories": [v[4] for _, v in mine],
                    "received": [ts(v[2][0][0]) for _, v in mine]}

        def one(key: str, **extra: object) -> dict:
            cid_, who, trans, channel, category, branch = complaint[key]
            return {"key": key, "complaint_id": cid_, "complainant_id": self.p_complainants[who][0],
                    "received_at": ts(trans[0][0]), "channel": channel, "category": category,
                    "status": trans[-1][1] if trans[-1][0] < (L + 1) * _DAY else None, **extra}

        cases["repeat_complainants"] = [by_complainant("PA"), by_complainant("PB")]
        cases["repeat_complainants_near_miss"] = [by_complainant("PN")]
        cases["insider_link_complainants"] = [by_complainant("I1"), by_complainant("I2")]
        cases["externally_escalated_complaints"] = [one("EX1"), one("EX2"), one("EX3")]
        cases["overdue_open_complaints"] = [one(k, days_open=L - complaint[k][2][0][0] // _DAY) for k in ("OV1", "OV2")]
        cases["overdue_open_boundary"] = [one("OVB", days_open=L - complaint["OVB"][2][0][0] // _DAY)]

        def surge(branch: str, category: str, prefix: str, base: str) -> dict:
            day = [v for k, v in complaint.items() if k.startswith(prefix)]
            baseline = [v for k, v in complaint.items() if k.startswith(base)]
            return {"branch_id": branch, "category": category, "date": ds(day[0][2][0][0] // _DAY),
                    "count": len(day), "complaint_ids": [v[0] for v in day],
                    "baseline_28d_complaint_ids": [v[0] for v in baseline]}

        cases["complaint_surge"] = [surge(*SURGE, "SG", "SB")]
        cases["complaint_surge_near_miss"] = [surge(*SURGE_NEAR_MISS, "NM", "NB")]

        names = []
        for key, *_, s in _PLANTED_EMPLOYEES:
            if "name" in s and "Canary" not in s["name"]:
                names.append({"table": "hr/employees", "column": "full_name", "key": key,
                              "id": P[key].eid, "value": s["name"]})
        for key, _, _, name, _ in _PLANTED_CLIENTS:
            if "Canary" not in name:
                names.append({"table": "crm/clients", "column": "client_name", "key": key, "id": cid[key],
                              "value": name})
        for key in ("PB", "I2"):
            pid, name = self.p_complainants[key][:2]
            names.append({"table": "complaints/complainants", "column": "full_name", "key": key, "id": pid,
                          "value": name})
        cases["formula_injection_names"] = names
        cases["formula_injection_texts"] = [
            {"table": "complaints/complaints", "column": "product", "key": key, "id": complaint[key][0], "value": value}
            for key, value in _PLANTED_PRODUCTS.items()]

        canary_emps = [P["LA1"], P["NP1"]]
        canaries = {
            "pattern": "national ids CANARY-NID-NNNN, phones +44 7700 9000NN, names containing Canary-NNNN",
            "national_ids": [self.identity(e)[1] for e in canary_emps]
                            + [self.p_complainants[k][2] for k in ("PA", "I1")],
            "phones": [self.p_complainants[k][3] for k in ("PA", "I1")],
            "names": [self.identity(e)[0] for e in canary_emps] + [self.p_complainants[k][1] for k in ("PA", "I1")]
                     + [_PLANTED_CLIENTS[-1][3]],
            "emails": [self.identity(e)[2] for e in canary_emps],
            "where": [
                {"table": "hr/employees", "id": e.eid} for e in canary_emps
            ] + [{"table": "complaints/complainants", "id": self.p_complainants[k][0]} for k in ("PA", "I1")]
              + [{"table": "crm/clients", "id": cid["PC11"]}],
        }
        return {
            "start": self.start.isoformat(), "days": self.days, "scale": self.scale.name, "seed": self.seed,
            "last_day": ds(L), "cases": cases, "canaries": canaries,
            "totals": {"service_accounts": len(self.service)},
        }


# ==================================================================================== generate

# Each feed depends only on the arguments, so feeds can be written by separate processes. A
# "pass" writes some feeds together: hr and iam share the walk over employees when they share a
# process. For each number of workers, the passes of each process (complaints are the most work,
# then iam, crm and hr).
_SPLITS: dict[int, tuple[tuple[tuple[str, ...], ...], ...]] = {
    1: ((("hr", "iam"), ("crm",), ("complaints",)),),
    2: ((("hr",), ("complaints",)), (("iam",), ("crm",))),
    3: ((("hr",), ("crm",)), (("iam",),), (("complaints",),)),
    4: ((("hr",),), (("iam",),), (("crm",),), (("complaints",),)),
}


def _write_pass(world: _World, landing: Path, D: int, feeds: tuple[str, ...]) -> str:
    """Write some feeds for day D, with their manifests; returns a progress line."""
    day = (world.start + timedelta(days=D)).isoformat()
    sinks = {t.name: _Sink(landing / t.feed / day / f"{t.file_stem}.csv", t.column_names)
             for feed in feeds for t in TABLES_BY_FEED[feed]}
    if "hr" in feeds or "iam" in feeds:
        n = world.write_people(D, sinks)
        message = f"{n:,} employees" if "hr" in feeds else ""
        if "iam" in feeds:
            message += f"{', ' if message else ''}{sinks['accounts'].rows:,} accounts, {sinks['logins'].rows:,} logins"
    elif feeds == ("crm",):
        message = f"{world.write_crm(D, sinks['clients'], sinks['rm_assignments']):,} clients"
    else:
        message = f"{world.write_complaints(D, sinks['complaints'], sinks['complainants']):,} new or changed complaints"
    for feed in feeds:
        files = {f"{t.file_stem}.csv": sinks[t.name].close() for t in TABLES_BY_FEED[feed]}
        manifest = json.dumps({"feed": feed, "date": day, "files": files}, indent=2) + "\n"
        (landing / feed / day / "_manifest.json").write_text(manifest, encoding="utf-8")
    return f"{day} {'+'.join(feeds)}: {message}"


def _worker(landing: Path, start: date, days: int, scale: str, seed: int, passes: tuple, queue) -> None:
    """A worker process: some passes, all days; progress lines and the outcome go to queue."""
    try:
        world = _World(SCALES[scale], start, days, seed)
        for D in range(days):
            for feeds in passes:
                queue.put(("progress", _write_pass(world, landing, D, feeds)))
        queue.put(("done", None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        import traceback

        queue.put(("error", traceback.format_exc()))


def generate(landing: Path, start: date, days: int, scale: str = "small", seed: int = 42,
             progress: Callable[[str], None] | None = None, *, workers: int = 1) -> dict:
    """Write `days` days of the four feeds into `landing`, starting at `start`.

    Returns the planted-cases summary, also written to <landing>/_demo/planted.json. The same
    arguments give byte-identical files, whatever `workers` is: with 2 to 4, the feeds are
    written by that many processes (spawned, so the caller must not be a daemonic process, as
    some task runners are).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if days < 1:
        raise ValueError("days must be at least 1")
    if workers not in _SPLITS:
        raise ValueError("workers must be 1, 2, 3 or 4")
    landing = Path(landing)
    say = progress or (lambda message: None)
    world = _World(SCALES[scale], start, days, seed)
    if workers == 1:
        for D in range(days):
            for feeds in _SPLITS[1][0]:
                say(_write_pass(world, landing, D, feeds))
    else:
        _run_workers(landing, start, days, scale, seed, workers, say)
    summary = world.summary()
    summary["cases"].update(plant_complainants_and_incidents(landing, start, days, summary))
    out = landing / "_demo" / "planted.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"planted cases: {out}")
    return summary


def _run_workers(landing: Path, start: date, days: int, scale: str, seed: int, workers: int,
                 say: Callable[[str], None]) -> None:
    import multiprocessing
    import queue as queues

    ctx = multiprocessing.get_context("spawn")  # no fork: safe next to threads and open connections
    messages = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(landing, start, days, scale, seed, passes, messages), daemon=True)
             for passes in _SPLITS[workers]]
    for p in procs:
        p.start()
    running, failure = len(procs), None
    try:
        while running and failure is None:
            try:
                kind, text = messages.get(timeout=1)
            except queues.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    failure = "a demo-data worker died"
                continue
            if kind == "progress":
                say(text)
            elif kind == "done":
                running -= 1
            else:
                failure = text
    finally:
        for p in procs:
            if failure is not None:
                p.terminate()
            p.join()
    if failure is not None:
        raise RuntimeError(f"demo-data generation failed:\n{failure}")
