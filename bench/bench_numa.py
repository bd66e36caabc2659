"""Worst-case NUMA fits: how long ``berth.scheduler.numa.fit`` takes on the biggest hosts.

Nova's permutation search needed minutes for 16 host cells x 8 guest cells; berth's
matching-based fit must stay in milliseconds. Each scenario is timed ``--runs`` times in
this process (no server, no database) and one JSON document is printed: per scenario the
outcome (fit, or the NoFit code) and the min/median/max wall time in milliseconds.

    nice -n 19 .venv/bin/python bench/bench_numa.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from berth.model.guest import (
    Assignment,
    CpuPolicy,
    EmulatorThreads,
    GuestCell,
    GuestTopology,
    PciNumaPolicy,
    PciRequest,
    ThreadPolicy,
)
from berth.model.topology import (
    CellUsage,
    HostCell,
    HostTopology,
    HostUsage,
    PciDevice,
    PciDeviceType,
)
from berth.scheduler.numa import fit

Case = tuple[HostTopology, HostUsage, GuestTopology]


def _cell(i: int, cores: int, memory: int = 65536) -> HostCell:
    base = i * 1000
    ded = frozenset(base + k for k in range(2 * cores))
    sibs = tuple(frozenset({base + k, base + k + cores}) for k in range(cores))
    shared = frozenset(range(base + 2 * cores, base + 2 * cores + 4))
    return HostCell(i, shared, ded, memory, sibs, socket=i // 8)


def _host(cells: int = 16, cores: int = 16, devices: tuple[PciDevice, ...] = ()) -> HostTopology:
    return HostTopology(tuple(_cell(i, cores) for i in range(cells)), devices)


def _guest(cells: int, cpus: int, memory: int = 4096, **kw: object) -> GuestTopology:
    gcells = tuple(
        GuestCell(i, frozenset(range(i * cpus, (i + 1) * cpus)), memory) for i in range(cells)
    )
    return GuestTopology(gcells, cpu_policy=CpuPolicy.DEDICATED, **kw)  # type: ignore[arg-type]


def _vfs(cells: range, per_cell: int) -> tuple[PciDevice, ...]:
    out = []
    for c in cells:
        pf = f"0000:{c + 16:02x}:00.0"
        out.append(PciDevice(pf, "8086", "1572", PciDeviceType.PF, c, "physnet1"))
        out += [
            PciDevice(f"0000:{c + 16:02x}:00.{k + 1}", "8086", "154c", PciDeviceType.VF, c,
                      "physnet1", pf)
            for k in range(per_cell)
        ]
    return tuple(out)


def _port(k: int, policy: PciNumaPolicy = PciNumaPolicy.REQUIRED) -> PciRequest:
    return PciRequest(1, f"port {k}", device_type="type-VF", physnet="physnet1",
                      numa_policy=policy)


def scenarios() -> dict[str, Callable[[], Case]]:
    iso = {"thread_policy": ThreadPolicy.ISOLATE, "emulator_threads": EmulatorThreads.ISOLATE}
    # guest cells 1..7 only fit host cells 0..6 (the others have 5 free CPUs left): guest
    # cell 0 (4 CPUs) must skip seven host cells whose completion fails, the costliest search.
    crowded = HostUsage({
        i: CellUsage(pinned_cpus=frozenset(range(i * 1000, i * 1000 + 27))) for i in range(7, 16)
    })
    crowded_g = GuestTopology(
        (GuestCell(0, frozenset(range(4)), 4096),
         *(GuestCell(i, frozenset(range(8 * i, 8 * i + 8)), 4096) for i in range(1, 8))),
        cpu_policy=CpuPolicy.DEDICATED, emulator_threads=EmulatorThreads.ISOLATE,
    )
    return {
        "16x8 fits (prefer)": lambda: (_host(), HostUsage(), _guest(8, 8)),
        "16x8 fits (isolate + emulator, 64-CPU cells)": lambda: (
            _host(cores=32), HostUsage(), _guest(8, 31, **iso)),
        "16x8 no fit (7 usable cells)": lambda: (
            _host(), HostUsage({i: CellUsage(memory_mb=65536 * 2) for i in range(9)}),
            _guest(8, 8)),
        "16x8 no fit (emulator, 64-CPU cells)": lambda: (
            _host(cores=32), HostUsage(), _guest(8, 32, **iso)),
        "16x8 no fit (isolate, 64-CPU cells)": lambda: (
            _host(cores=32), HostUsage(), _guest(8, 33, thread_policy=ThreadPolicy.ISOLATE)),
        "16x8 fits (adversarial order, emulator)": lambda: (_host(), crowded, crowded_g),
        "16x8 fits (4 VF ports, VFs in every cell)": lambda: (
            _host(devices=_vfs(range(16), 8)), HostUsage(),
            _guest(8, 8, pci=tuple(_port(k) for k in range(4)))),
        "16x8 fits (8 VF ports, 1 VF per cell, emulator)": lambda: (
            _host(devices=_vfs(range(16), 1)), HostUsage(),
            _guest(8, 8, emulator_threads=EmulatorThreads.ISOLATE,
                   pci=tuple(_port(k) for k in range(8)))),
        "16x8 fits (8 aliases, each device model in one cell)": lambda: (
            _host(devices=tuple(
                PciDevice(f"0000:{c + 16:02x}:00.0", "8086", f"{c:04x}", PciDeviceType.PCI, c)
                for c in range(16))),
            HostUsage(),
            _guest(8, 8, pci=tuple(
                PciRequest(1, f"alias a{k}", "8086", f"{2 * k:04x}") for k in range(8)))),
        "16x8 no fit (port VFs only in full cells)": lambda: (
            _host(devices=_vfs(range(12, 16), 4)),
            HostUsage({i: CellUsage(memory_mb=65536 * 2) for i in range(12, 16)}),
            _guest(8, 8, pci=(_port(0),))),
        "16x8 fits (socket policy)": lambda: (
            _host(devices=_vfs(range(12, 16), 4)),
            HostUsage({i: CellUsage(memory_mb=65536 * 2) for i in range(12, 16)}),
            _guest(8, 8, pci=(_port(0, PciNumaPolicy.SOCKET),))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    out = {}
    for name, make in scenarios().items():
        host, usage, guest = make()
        times, result = [], None
        for _ in range(args.runs):
            start = time.perf_counter()
            result = fit(host, usage, guest, cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0)
            times.append((time.perf_counter() - start) * 1000)
        outcome = "fit" if isinstance(result, Assignment) else getattr(result, "code", "?")
        out[name] = {
            "outcome": outcome,
            "ms_min": round(min(times), 2),
            "ms_median": round(statistics.median(times), 2),
            "ms_max": round(max(times), 2),
        }
    print(json.dumps({"runs": args.runs, "scenarios": out}, indent=2))


if __name__ == "__main__":
    main()
