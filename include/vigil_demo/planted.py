"""The planted cases and defects: the employees, clients, complainants and complaints planted in the
demo data so that every rule has a known answer (docs/demo-data.md), the rows they add, and
planted.json (PlantedCases.summary), which names every case for the tests and the run output.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from vigil_demo.cases import case_id
from vigil_demo.population import (
    COMP, CS, DEPARTMENTS, FIN, HR, IT, LEN, PAY, PB, RET, RM_POSITION, SURGE, SURGE_NEAR_MISS, SYSTEMS, TEAM, TRE,
    _AMOUNTS, _DAY, _FIRST, _LAST, _PRODUCTS, _SERVICE_ACCOUNTS, _SYS, _Emp, _key, _mix,
)

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
    # 12. a leaver frozen late (the response loop's late closure): terminated L-9, every account left
    #     enabled until IAM disables them all on L-2 (appended last, so no other planted slot moves)
    ("LL", RET, "Cashier", dict(notice=-30, term=-9, reason="resignation",
                                disable={x: (-2, 10 * 60) for x in ("AD", "Email", "HRIS", "CoreBanking", "CRM")})),
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

#: The reopened orphan (ORR): disabled on demo day 3 (offset 2 from the first day), enabled again on
#: day 5 (offset 4); planted only in a demo of at least 5 days, so both nights exist.
_REOPEN_DISABLED_DAY, _REOPEN_ENABLED_DAY = 2, 4
_REOPEN_MIN_DAYS = _REOPEN_ENABLED_DAY + 1

_PLANTED_ID_BASE = 90_000_000  # planted complaints C90000001.., complainants P90000001..
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



class PlantedCases:
    """The planted cases, as a part of the demo bank (vigil_demo.World): what they add to it and planted.json."""

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
        # (key, system, number, username, employee_id, created, disabled, reason, enabled again)
        self.orphans = [
            ("OR1", _SYS["AD"], 95_000_001, "jmorgan_old", "", L - 900, None, "no_owner", None),
            ("OR2", _SYS["CoreBanking"], 95_000_002, "tkowalski", "E9000001", L - 700, None, "unknown_employee", None),
            ("OR3", _SYS["CRM"], 95_000_003, "legacy_crm_user", str(int(self.eid(numeric))), L - 600, None,
             "employee_id_without_leading_zeros", None),
            ("ORD", _SYS["Email"], 95_000_004, "shared_old", "", L - 2000, L - 400, "disabled", None),
        ]
        if self.days >= _REOPEN_MIN_DAYS:
            # The reopened case: an orphan IAM disables on demo day 3 (its case closed_verified that
            # night) and enables again on day 5 (the case reopens under the same id).
            self.orphans.append(("ORR", _SYS["Email"], 95_000_005, "events_shared", "", L - 800,
                                 _REOPEN_DISABLED_DAY, "no_owner", _REOPEN_ENABLED_DAY))
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
        cases["leaver_frozen_late"] = [
            {**person("LL"), "termination_date": ds(P["LL"].term), "frozen_on": ds(L - 2),
             "accounts": [{"system": SYSTEMS[a[0]], "account_id": a[2], "disabled_at": ts(a[5])} for a in at_last["LL"]]}]
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
            for key, s, num, user, owner, _, disabled, reason, again in self.orphans
            if disabled is None or again is not None]  # enabled on the last day
        cases["orphan_accounts_disabled"] = [
            {"key": key, "system": SYSTEMS[s], "account_id": self.account_id(s, num), "username": user,
             "employee_id": owner}
            for key, s, num, user, owner, _, disabled, _, again in self.orphans if disabled is not None and again is None]
        # the reopened case (docs/cases.md): closed_verified on the night IAM showed the orphan
        # disabled, reopened on the night it came back enabled, one case id throughout
        cases["case_reopened"] = [
            {"key": key, "kind": "orphan_account", "system": SYSTEMS[s], "account_id": self.account_id(s, num),
             "case_id": case_id("orphan_account", "account", f"{SYSTEMS[s]}:{self.account_id(s, num)}"),
             "opened_on": ds(0), "closed_at": ds(disabled), "reopened_on": ds(again)}
            for key, s, num, _, _, _, disabled, _, again in self.orphans if again is not None]
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
