"""bench/run's table: the median and spread of every figure, the ratios
baseline / nativesnap where there is a baseline to compare with, and the
targets the figures are read against.

A row is a figure measured on one subject (a disk size, an amount of RAM, an
amount of data written since the snapshot); a "derived" row is a ratio of two
medians (how a cost grows, or a target stated as a ratio); an "api" row is one
of bench/api's figures. The rows go into the JSON as they are printed.
"""

# Figures per section: (label, key, key of the nativesnap figure it is
# compared with on the same subject, or None). The ratio is this figure's
# median over that one: the image-copy (or slower) way over nativesnap's.
CREATE = (
    ("nativesnap create: POST -> available", "nativesnap_total_ms", None),
    ("nativesnap create: frozen_ms", "nativesnap_frozen_ms", None),
    ("cold (Nova): wall", "cold_total_ms", "nativesnap_total_ms"),
    ("cold (Nova): paused_ms", "cold_paused_ms", "nativesnap_frozen_ms"),
    ("live (Nova): wall", "live_total_ms", "nativesnap_total_ms"),
    ("live (Nova): frozen_ms", "live_frozen_ms", "nativesnap_frozen_ms"),
    ("live-late: wall", "live_late_total_ms", "nativesnap_total_ms"),
    ("live-late: frozen_ms", "live_late_frozen_ms", "nativesnap_frozen_ms"),
)
# Frozen time is one thing for every method (docs/performance.md, "Frozen
# time"): from the freeze request to the thaw call's return, as the host sees
# it; the guest's own writer gives the longest write it saw blocked.
CREATE_WINDOW = (
    ("nativesnap frozen: freeze call (agent, guest's fsfreeze)",
     "nativesnap_window_freeze_call_ms", None),
    ("nativesnap frozen: switch (snapshotCreateXML)", "nativesnap_window_switch_ms",
     None),
    ("nativesnap frozen: thaw call", "nativesnap_window_thaw_call_ms", None),
    ("nativesnap frozen: other (watchdog, bookkeeping)", "nativesnap_window_other_ms",
     None),
    ("nativesnap: longest write stall inside the guest", "nativesnap_guest_stall_ms",
     None),
    ("floor: the switch alone (nativesnap, quiesce off)", "floor_switch_ms", None),
    ("floor: the agent's freeze + thaw alone (no snapshot)", "floor_freeze_thaw_ms",
     None),
    ("floor: the two together", "floor_total_ms", None),
    ("live (Nova): freeze call", "live_freeze_call_ms",
     "nativesnap_window_freeze_call_ms"),
    ("live (Nova): longest write stall inside the guest", "live_guest_stall_ms",
     "nativesnap_guest_stall_ms"),
    ("live-late: freeze call", "live_late_freeze_call_ms",
     "nativesnap_window_freeze_call_ms"),
    ("live-late: longest write stall inside the guest", "live_late_guest_stall_ms",
     "nativesnap_guest_stall_ms"),
)
CREATE_LATENCY = (
    ("API: POST -> record inserted (checks, guest ping)", "nativesnap_latency_api_ms",
     None),
    ("hand-off: record -> driver starts", "nativesnap_latency_handoff_ms", None),
    ("driver outside the window (overlays, lookups)",
     "nativesnap_latency_driver_outside_window_ms", None),
    ("the frozen window", "nativesnap_latency_window_ms", None),
    ("save: driver returns -> available recorded", "nativesnap_latency_save_ms", None),
    ("client: recorded -> seen (its polling)", "nativesnap_latency_seen_ms", None),
)
MEMORY = (
    ("nativesnap memory snapshot: paused_ms", "memory_paused_ms", None),
    ("nativesnap memory snapshot: POST -> available", "memory_total_ms", None),
    ("guest's console stalled, seen from the host (checks paused_ms)",
     "memory_observed_stall_ms", None),
    ("nativesnap memory snapshot: delete", "memory_delete_ms", None),
    ("libvirt alone: RAM-only snapshot, not live, no disk", "memory_libvirt_floor_ms",
     None),
    ("cold (Nova), same guest: paused_ms", "memory_cold_paused_ms", "memory_paused_ms"),
    ("cold (Nova), same guest: wall", "memory_cold_total_ms", "memory_total_ms"),
)
REVERT_DELETE = (
    ("disk-only revert: POST -> task end", "revert_disk_task_ms", None),
    ("disk-only revert: POST -> agent answers (boot)", "revert_disk_agent_ms", None),
    ("memory revert: POST -> task end", "revert_memory_task_ms", None),
    ("memory revert: POST -> agent answers", "revert_memory_agent_ms", None),
    ("delete (merge): DELETE -> gone", "delete_merge_ms", None),
)
# Where a revert's POST -> task end goes (the driver's parts, in its order).
REVERT_PARTS = (
    ("API and hand-off: POST -> driver starts", "revert_part_handoff_ms", None),
    ("driver: look-ups", "revert_part_prepare_ms", None),
    ("driver: new overlays (qemu-img create)", "revert_part_overlays_ms", None),
    ("driver: stop QEMU (libvirt destroy)", "revert_part_stop_ms", None),
    ("driver: new definition", "revert_part_define_ms", None),
    ("driver: restore from the snapshot's RAM", "revert_part_restore_ms", None),
    ("driver: start (boot) on the snapshot's disks", "revert_part_start_ms", None),
    ("driver: progress records", "revert_part_progress_ms", None),
    ("driver: drop the discarded layer, read the state", "revert_part_cleanup_ms",
     None),
    ("save and client: driver returns -> task end seen", "revert_part_save_seen_ms",
     None),
    ("floor: libvirt's destroy alone", "revert_floor_destroy_ms", None),
    ("floor: libvirt's restore of a saved RAM alone", "revert_floor_restore_ms", None),
    ("floor: the two together", "revert_floor_ms", None),
)
SPAWN = (
    ("linked: POST -> domain defined (before boot)", "spawn_linked_defined_ms", None),
    ("linked: POST -> ACTIVE (QEMU started)", "spawn_linked_active_ms", None),
    ("linked: POST -> agent answers", "spawn_linked_agent_ms", None),
    ("full copy: POST -> domain defined (before boot)", "spawn_full_defined_ms",
     "spawn_linked_defined_ms"),
    ("full copy: POST -> ACTIVE (QEMU started)", "spawn_full_active_ms",
     "spawn_linked_active_ms"),
    ("full copy: POST -> agent answers", "spawn_full_agent_ms", "spawn_linked_agent_ms"),
    ("DELETE spawned server, linked", "spawn_linked_delete_ms", None),
    ("DELETE spawned server, full copy", "spawn_full_delete_ms", None),
)

SECTIONS = {  # name -> (title, figures)
    "create": ("create: nativesnap (external, quiesced) vs Nova's image snapshots",
               CREATE),
    "create_window": ("create: the frozen window's parts, and each method's "
                      "longest write stall seen inside the guest", CREATE_WINDOW),
    "create_latency": ("create: where nativesnap's POST -> available goes",
                       CREATE_LATENCY),
    "memory": ("memory snapshots (RAM 3/8 filled) vs Nova's cold snapshot of the "
               "same guest", MEMORY),
    "revert_delete": ("revert and delete with data written since the snapshot",
                      REVERT_DELETE),
    "revert_parts": ("revert: where POST -> task end goes", REVERT_PARTS),
    "spawn": ("spawn from a snapshot (power_on): linked overlay vs full copy", SPAWN),
}

# Targets on one figure: key -> (test of the row, text).
# create's wall time against Nova's cold path, x: disk size (GiB) -> target
# (4 GiB of data on the 16 GiB disk, 16 GiB on the 64 GiB one)
CREATE_VS_COLD_TARGETS = {16: 100.0, 64: 300.0}
FROZEN_FLAT_TOLERANCE = 0.20      # the largest disk vs the smallest
MEMORY_REVERT_TARGET_MS = 600.0   # memory revert, POST -> task end, 0.1 GiB since
MEMORY_PAUSED_PER_128_MIB = 100.0  # ms
FROZEN_TARGET_MS = 60.0           # nativesnap's frozen_ms median, TCG
CREATE_TARGET_MS = 100.0          # nativesnap's POST -> available median
FROZEN_OVER_FLOOR = 1.3           # x the floor measured on the same guest
LINKED_SPAWN_BEFORE_BOOT = 200.0  # ms


def size_tag(size_gib):
    return f"{size_gib}GiB"


def mib_tag(mib):
    return f"{mib}MiB"


def gib_text(mib):
    """256 -> "0.25 GiB", 100 -> "0.1 GiB" (what the issue calls 0.1 GiB)."""
    return f"{mib / 1024:.2f}".rstrip("0").rstrip(".") + " GiB"


def _summary(results, key):
    return (results.get(key) or {}).get("summary") or {}


def _ratio(results, key, ref_key):
    a, b = _summary(results, key), _summary(results, ref_key)
    if a.get("median_ms") is None or not b.get("median_ms"):
        return None
    return round(a["median_ms"] / b["median_ms"], 2)


def _target(base, tag, row, context):
    """(text, met) of the target a row is read against, or (None, None)."""
    want = {size_tag(size): x for size, x in CREATE_VS_COLD_TARGETS.items()}
    if base == "cold_total_ms" and tag in want:
        ratio = row["ratio"]
        return (f"ratio >= {want[tag]:g}x",
                None if ratio is None else ratio >= want[tag])
    if (base == "revert_memory_task_ms"
            and tag.split("@")[0] == mib_tag(min(context["since_mib"]))):
        return (f"<= {MEMORY_REVERT_TARGET_MS:g} ms",
                row["median_ms"] <= MEMORY_REVERT_TARGET_MS)
    if base == "nativesnap_total_ms":
        return (f"<= {CREATE_TARGET_MS:g} ms",
                row["median_ms"] <= CREATE_TARGET_MS)
    if base == "nativesnap_frozen_ms":
        return (f"<= {FROZEN_TARGET_MS:g} ms",
                row["median_ms"] <= FROZEN_TARGET_MS)
    if base == "memory_paused_ms":
        limit = MEMORY_PAUSED_PER_128_MIB * context["memory_of"][tag] / 128
        return f"<= {limit:g} ms", row["median_ms"] <= limit
    if base == "spawn_linked_defined_ms":
        return (f"<= {LINKED_SPAWN_BEFORE_BOOT:g} ms",
                row["median_ms"] <= LINKED_SPAWN_BEFORE_BOOT)
    return None, None


def _figure_rows(section, figures, subjects, results, context):
    rows = []
    for tag, subject in subjects:
        for label, base, ref in figures:
            key = f"{base}[{tag}]"
            s = _summary(results, key)
            if not s.get("count"):
                continue
            row = {"section": section, "key": key, "subject": subject,
                   "figure": label, "count": s["count"],
                   "median_ms": s["median_ms"], "p10_ms": s["p10_ms"],
                   "p90_ms": s["p90_ms"], "min_ms": s["min_ms"], "max_ms": s["max_ms"],
                   "ratio": _ratio(results, key, f"{ref}[{tag}]") if ref else None,
                   "ratio_of": (f"{base} / {ref}" if ref else None)}
            if section == "create":  # kept under its first name for readers of old JSON
                row["ratio_over_nativesnap"] = row["ratio"]
                row["size_gib"] = context["size_of"][tag]
                row["data_mib"] = context["data_mib"][context["size_of"][tag]]
            row["target"], row["met"] = _target(base, tag, row, context)
            rows.append(row)
    return rows


def _derived(section, key, subject, figure, num, den, results, target=None):
    """A row holding the ratio of two medians; None when one is missing.
    ``target``: (text, test of the ratio) or None."""
    ratio = _ratio(results, num, den)
    if ratio is None:
        return None
    text, met = (None, None) if target is None else (target[0], target[1](ratio))
    return {"section": section, "key": key, "subject": subject, "figure": figure,
            "count": None, "ratio": ratio, "ratio_of": f"{num} / {den}",
            "target": text, "met": met}


def _over_floor(size, results):
    """nativesnap's frozen window over the floor measured on the same guest."""
    tag = size_tag(size)
    return _derived(
        "create_window", f"nativesnap_frozen_ms[{tag}]/floor", f"{size} GiB disk",
        "nativesnap frozen_ms over the floor (switch + freeze/thaw alone)",
        f"nativesnap_frozen_ms[{tag}]", f"floor_total_ms[{tag}]", results,
        (f"<= {FROZEN_OVER_FLOOR:g}x", lambda r: r <= FROZEN_OVER_FLOOR))


def _revert_growth(context, results):
    """Revert and delete on the larger guests (context's revert_also) over
    the same on the revert guest, the least written since: flat, as the
    data written is the same; and Nova's rebuild of that larger guest."""
    rows = []
    if not context["since_mib"] or context.get("revert_size") is None:
        return rows
    low, high = 1 - FROZEN_FLAT_TOLERANCE, 1 + FROZEN_FLAT_TOLERANCE
    lo, base_size = mib_tag(min(context["since_mib"])), context["revert_size"]
    for size in context.get("revert_also") or ():
        tag = f"{lo}@{size_tag(size)}"
        written = gib_text(min(context["since_mib"]))
        subject = f"{size} GiB / {base_size} GiB guest, {written} written"
        for base, what in (("revert_disk_task_ms", "disk-only revert, task"),
                           ("revert_memory_task_ms", "memory revert, task"),
                           ("delete_merge_ms", "delete (merge)")):
            rows.append(_derived(
                "revert_delete", f"{base}[{tag}/{lo}]", subject,
                f"{what}: growth with the disk", f"{base}[{tag}]", f"{base}[{lo}]",
                results, (f"{low:g}-{high:g}x (flat)", lambda r: low <= r <= high)))
        for base, what in (("revert_disk_agent_ms", "disk-only revert"),
                           ("revert_memory_agent_ms", "memory revert")):
            rows.append(_derived(
                "revert_delete", f"rebuild/{base}[{tag}]",
                f"{size} GiB guest, {written} written",
                f"full copy + boot (Nova's rebuild) / {what}, to the agent",
                f"spawn_full_agent_ms[{size_tag(size)}]", f"{base}[{tag}]", results))
    return rows


def build_rows(results, context, api_report=None):
    """Every row of the table. ``context``: sizes (GiB), data_mib (size ->
    MiB), memory_mib (list), since_mib (list), revert_size (GiB or None),
    revert_also (sizes also reverted with the least written since)."""
    sizes = context["sizes"]
    context = dict(context, size_of={size_tag(s): s for s in sizes},
                   memory_of={mib_tag(m): m for m in context["memory_mib"]})
    disk = [(size_tag(s), f"{s} GiB disk / {gib_text(context['data_mib'][s])} data")
            for s in sizes]
    ram = [(mib_tag(m), f"{m} MiB RAM") for m in context["memory_mib"]]
    revert_on = context.get("revert_size")
    since = [(mib_tag(m), f"{gib_text(m)} written since, {revert_on} GiB guest")
             for m in context["since_mib"]]
    least = min(context["since_mib"]) if context["since_mib"] else None
    since += [(f"{mib_tag(least)}@{size_tag(size)}",
               f"{gib_text(least)} written since, {size} GiB guest")
              for size in context.get("revert_also") or ()]
    parts = [(f"{kind}_{tag}", f"{kind} revert, {label}")
             for kind in ("memory", "disk") for tag, label in since]
    rows = []
    for section, subjects in (("create", disk), ("create_window", disk),
                              ("create_latency", disk), ("memory", ram),
                              ("revert_delete", since), ("revert_parts", parts),
                              ("spawn", disk)):
        rows += _figure_rows(section, SECTIONS[section][1], subjects, results, context)

    small, large = size_tag(min(sizes)), size_tag(max(sizes))
    derived = []
    if small != large:
        low, high = 1 - FROZEN_FLAT_TOLERANCE, 1 + FROZEN_FLAT_TOLERANCE
        derived += [
            _derived("create", f"nativesnap_frozen_ms[{large}/{small}]",
                     f"{max(sizes)} GiB / {min(sizes)} GiB disk",
                     "nativesnap frozen_ms: growth with the disk",
                     f"nativesnap_frozen_ms[{large}]", f"nativesnap_frozen_ms[{small}]",
                     results, (f"{low:g}-{high:g}x (flat)",
                               lambda r: low <= r <= high)),
            _derived("create", f"nativesnap_total_ms[{large}/{small}]",
                     f"{max(sizes)} GiB / {min(sizes)} GiB disk",
                     "nativesnap POST -> available: growth with the disk",
                     f"nativesnap_total_ms[{large}]", f"nativesnap_total_ms[{small}]",
                     results, (f"{low:g}-{high:g}x (flat)",
                               lambda r: low <= r <= high)),
            _derived("create", f"cold_total_ms[{large}/{small}]",
                     f"{max(sizes)} GiB / {min(sizes)} GiB disk",
                     "cold (Nova) wall: growth with the disk",
                     f"cold_total_ms[{large}]", f"cold_total_ms[{small}]", results),
            _derived("spawn", f"spawn_full_defined_ms[{large}/{small}]",
                     f"{max(sizes)} GiB / {min(sizes)} GiB disk",
                     "full copy, before boot: growth with the disk",
                     f"spawn_full_defined_ms[{large}]", f"spawn_full_defined_ms[{small}]",
                     results),
            _derived("spawn", f"spawn_linked_defined_ms[{large}/{small}]",
                     f"{max(sizes)} GiB / {min(sizes)} GiB disk",
                     "linked, before boot: growth with the disk",
                     f"spawn_linked_defined_ms[{large}]",
                     f"spawn_linked_defined_ms[{small}]", results),
        ]
    derived += [_over_floor(size, results) for size in sizes]
    mems = context["memory_mib"]
    if len(mems) > 1:
        lo, hi = mib_tag(min(mems)), mib_tag(max(mems))
        derived.append(_derived(
            "memory", f"memory_paused_ms[{hi}/{lo}]", f"{max(mems)} / {min(mems)} MiB RAM",
            "memory snapshot paused_ms: growth with the RAM",
            f"memory_paused_ms[{hi}]", f"memory_paused_ms[{lo}]", results))
    written = context["since_mib"]
    if len(written) > 1:
        lo, hi = mib_tag(min(written)), mib_tag(max(written))
        for base, what in (("delete_merge_ms", "delete (merge)"),
                           ("revert_disk_task_ms", "disk-only revert, task"),
                           ("revert_memory_task_ms", "memory revert, task")):
            derived.append(_derived(
                "revert_delete", f"{base}[{hi}/{lo}]",
                f"{gib_text(max(written))} / {gib_text(min(written))} written",
                f"{what}: growth with the data written", f"{base}[{hi}]",
                f"{base}[{lo}]", results))
    derived += _revert_growth(context, results)
    if context["since_mib"]:
        tag = mib_tag(min(context["since_mib"]))
        derived.append(_derived(
            "revert_parts", f"revert_memory_task_ms[{tag}]/floor",
            f"{context.get('revert_size')} GiB guest, {gib_text(min(context['since_mib']))} "
            "written", "memory revert, task, over the floor (libvirt's destroy + restore)",
            f"revert_memory_task_ms[{tag}]", f"revert_floor_ms[memory_{tag}]", results))
    if revert_on is not None and written:
        # Nova cannot revert: its way back is a rebuild from the image, a
        # full copy of the disk and a boot, which the full spawn of the same
        # guest's snapshot measures.
        rebuild = f"spawn_full_agent_ms[{size_tag(revert_on)}]"
        lo = mib_tag(min(written))
        for base, what in (("revert_disk_agent_ms", "disk-only revert"),
                           ("revert_memory_agent_ms", "memory revert")):
            derived.append(_derived(
                "revert_delete", f"rebuild/{base}[{lo}]",
                f"{revert_on} GiB guest, {gib_text(min(written))} written",
                f"full copy + boot (Nova's rebuild) / {what}, to the agent",
                rebuild, f"{base}[{lo}]", results))
    rows += [row for row in derived if row is not None]
    order = list(SECTIONS) + ["api"]
    rows.sort(key=lambda row: order.index(row["section"]))  # stable: keeps the order within
    if api_report is not None:
        rows += api_rows(api_report)
    return rows


def api_rows(api_report):
    rows = []
    for fig in api_report.get("figures", []):
        rows.append({"section": "api", "key": f"api:{fig['database']}:{fig['figure']}",
                     "subject": fig["database"], "figure": fig["figure"],
                     "count": None, "value": fig["value"], "unit": fig["unit"],
                     "ratio": None, "target": fig["target"], "met": fig["met"]})
    return rows


TITLES = dict({name: title for name, (title, _) in SECTIONS.items()},
              api="API (bench/api: nativesnap-api, fake driver)")


def format_table(rows):
    header = ("subject", "figure", "n", "median", "p10-p90", "min-max", "ratio",
              "target", "met")
    lines = []
    section = None
    for row in rows:
        if row["section"] != section:
            section = row["section"]
            lines.append(("title", f"== {TITLES[section]}"))
        ratio = "" if row.get("ratio") is None else f"{row['ratio']:g}x"
        if "value" in row:
            value = row["value"]
            median = "-" if value is None else (
                f"{value:.1f} {row['unit']}".strip() if isinstance(value, float)
                else f"{value} {row['unit']}".strip())
            cells = (row["subject"], row["figure"], "", median, "", "", "")
        elif row["count"] is None:
            cells = (row["subject"], row["figure"], "", "", "", "", ratio)
        else:
            cells = (row["subject"], row["figure"], str(row["count"]),
                     f"{row['median_ms']:.0f} ms",
                     f"{row['p10_ms']:.0f}-{row['p90_ms']:.0f}",
                     f"{row['min_ms']:.0f}-{row['max_ms']:.0f}", ratio)
        met = "" if row.get("met") is None else ("yes" if row["met"] else "NO")
        lines.append(("row", cells + (row.get("target") or "", met)))
    cells_only = [c for kind, c in lines if kind == "row"]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *cells_only)]

    def fmt(cells):
        return "  ".join(str(c).ljust(w) if i in (0, 1, 7) else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [fmt(header), fmt(["-" * w for w in widths])]
    for kind, content in lines:
        out.append(content if kind == "title" else fmt(content))
    out.append("")
    out.append(RATIO_LEGEND)
    return "\n".join(out)


RATIO_LEGEND = ("ratio: baseline / nativesnap, the median of the image-copy way (Nova's "
                "cold or live snapshot, a full copy) over nativesnap's on the same "
                "subject;\n       on \"growth\" rows, the larger subject's median over "
                "the smaller's; on \"rebuild\" rows, a full copy + boot over a revert.")
