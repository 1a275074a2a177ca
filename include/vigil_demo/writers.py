"""Writing the landing files: each feed's tables for one day, row by row, into
<landing>/<feed>/<YYYY-MM-DD>/<table>.csv with its _manifest.json.

Files go through the importers' writer (vigil.ingest.importers.ContractCsvWriter: contract column
order, UTF-8, RFC 4180, LF; rows counted and bytes hashed for the manifest). Hot loops hand it ready
"a,b,c\n" lines (ContractCsvWriter.write_lines), which is about five times faster than csv.writer;
that is only correct for values that need no quoting (ids, dates, timestamps, enumerations,
numbers, names without a comma, quote or line break), so rows whose free text has one of those go
through _csv_line (checked with _NEEDS_QUOTING), and the tests re-serialise every file with
csv.writer to prove the bytes are the same.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from bisect import bisect_right
from datetime import timedelta
from pathlib import Path

from vigil.ingest.contract import TABLES_BY_FEED
from vigil.ingest.importers import ContractCsvWriter
from vigil_demo.planted import _ORPHAN_ENTITLEMENTS
from vigil_demo.population import (
    DEPARTMENTS, SYSTEMS, _AMOUNTS, _BLOCK, _CATEGORIES, _CJK, _COMPANY_A, _COMPANY_B, _COMPANY_C, _DAY, _FIRST,
    _LAST, _M64, _NID_LETTERS, _ORGANIC_CHANNELS, _OUTCOMES, _PRODUCTS, _TIMES, _Calendar, _Emp, _key, _money,
)

_NEEDS_QUOTING = re.compile(r'[,"\r\n]')
_ROW_BUFFER = io.StringIO()
_ROW_WRITER = csv.writer(_ROW_BUFFER, lineterminator="\n")


def _csv_line(row: tuple) -> str:
    """One row through csv.writer (RFC 4180 quoting), for rows whose text needs it."""
    _ROW_BUFFER.seek(0)
    _ROW_BUFFER.truncate()
    _ROW_WRITER.writerow(row)
    return _ROW_BUFFER.getvalue()


class FeedWriters:
    """Day D's rows of each feed, as a part of the demo bank (vigil_demo.World)."""

    # ================================================================================== writers
    # Hot loops: timestamps are built inline from the calendar's date strings (dates[o - LO] +
    # _TIMES[minute]) and closed-alphabet tables are written as ready lines (see ContractCsvWriter).

    def write_people(self, D: int, sinks: dict[str, ContractCsvWriter]) -> int:
        """hr/* and/or iam/* for day D (whichever sinks are given), employee by employee.

        Returns the number of employees on record that day.
        """
        hr, iam = "employees" in sinks, "accounts" in sinks
        out: dict[str, list[str]] = {t.name: [] for feed in ("hr", "iam") for t in TABLES_BY_FEED[feed]}

        def flush() -> None:
            for name, lines in out.items():
                if name in sinks:
                    sinks[name].write_lines(lines)
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
        for _, sys_i, num, user, owner, created_o, disabled_o, _, again_o in self.orphans:
            system, aid = SYSTEMS[sys_i], self.account_id(sys_i, num)
            created = created_o * _DAY + 600
            if created >= (D + 1) * _DAY:
                continue
            off = disabled_o is not None and disabled_o <= D and (again_o is None or D < again_o)
            disabled = disabled_o * _DAY + 1080 if off else None
            # enabled again (again_o): no login from the day it was disabled until then, so every
            # night's last_login_at agrees with every night's logins.csv
            quiet = frozenset(range(disabled_o, again_o)) if again_o is not None else frozenset()
            events: list = []
            last = self._scan(num * 0x9E3779B97F4A7C15, sys_i, created, disabled, D,
                              D if disabled is None else disabled_o, events, quiet)
            status = "enabled" if disabled is None else "disabled"
            accts.append(f"{aid},{system},{user},{owner},{status},false,{ts(created)},{ts(last)},{ts(disabled)}\n")
            if disabled is None:
                ents.extend(f"{system},{aid},{ent},false,{ts(created + 1 + j)}\n"
                            for j, ent in enumerate(_ORPHAN_ENTITLEMENTS[system]))
            logins.extend(f"{system},{aid},{ts(t)},{outcome}\n" for t, outcome in events)

    def write_crm(self, D: int, clients: ContractCsvWriter, assignments: ContractCsvWriter) -> int:
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
            clients.write_lines(crows)
            assignments.write_lines(arows)
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

    def write_complaints(self, D: int, complaints: ContractCsvWriter, complainants: ContractCsvWriter) -> int:
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
                complaints.write_lines(crows)
                complainants.write_lines(prows)
                crows.clear()
                prows.clear()
        n += self._planted_complaint_rows(D, crows, prows)
        complaints.write_lines(crows)
        complainants.write_lines(prows)
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


def _write_pass(world: FeedWriters, landing: Path, D: int, feeds: tuple[str, ...]) -> str:
    """Write some feeds for day D, with their manifests; returns a progress line."""
    day = (world.start + timedelta(days=D)).isoformat()
    for feed in feeds:
        (landing / feed / day).mkdir(parents=True, exist_ok=True)
    sinks = {t.name: ContractCsvWriter(landing / t.feed / day / f"{t.file_stem}.csv", t)
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
        written = [sinks[t.name].close() for t in TABLES_BY_FEED[feed]]
        # the contract's table order, as the manifests have always listed them
        files = {w.name: {"rows": w.rows, "sha256": w.sha256} for w in written}
        manifest = json.dumps({"feed": feed, "date": day, "files": files}, indent=2) + "\n"
        (landing / feed / day / "_manifest.json").write_text(manifest, encoding="utf-8")
    return f"{day} {'+'.join(feeds)}: {message}"
