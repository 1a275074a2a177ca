"""The demo bank: its scale, reference data (departments, positions, systems, names), the calendar,
and the population derived from (scale, start, days, seed): employees with their accounts,
entitlements, assets and ratings, the joiner/leaver/mover events, clients and complaints.

Deterministic and streaming (see vigil_demo): employee i on day D is a pure function of (seed, i, D)
plus a few sparse events. Bank.__init__ also plants the cases (vigil_demo.planted), which the
organic population is built around.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # only an annotation: vigil_demo.planted builds on this module, not the reverse
    from vigil_demo.planted import _Plant


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


_ASSET_PREFIX = {"laptop": "LT", "badge": "BG", "token": "TK", "phone": "PH"}


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


class Bank:
    """The population derived from (scale, start, days, seed) that the daily writers share. A part of
    vigil_demo.World: __init__ also plants the cases (vigil_demo.planted.PlantedCases), which the
    organic population makes room for."""

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
