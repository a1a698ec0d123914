"""The SOAP header parse alone, in one process: lxml's own parse of the envelope (the
floor: no Python walk), ``parse_xml`` (the safe parse: DTD refusal and limits), the
whole ``parse_request`` (parse + X-Road header walk and checks) and the provider's
``check_response`` of a small answer. The envelope is bench_exchange.py's SOAP_BODY.

    python bench/bench_soap_parse.py [--repeats 9] [--number 5000]

Prints the median and the spread (min–max) of the repeats, in µs per call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
from bench_exchange import SOAP_BODY

from sild.soap.message import check_response, parse_request
from sild.soap.safexml import parse_xml

ANSWER = (b'<?xml version="1.0" encoding="UTF-8"?>'
          b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/>'
          b'<s:Body><h:helloResponse xmlns:h="urn:bench"><message>hello from the provider '
          b"information system</message></h:helloResponse></s:Body></s:Envelope>")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--number", type=int, default=5000)
    args = ap.parse_args()
    body = SOAP_BODY.encode()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("lxml fromstring (baseline)", lambda: etree.fromstring(body, parser)),
        ("parse_xml", lambda: parse_xml(body)),
        ("parse_request", lambda: parse_request(body)),
        ("check_response", lambda: check_response(ANSWER, service_code="hello",
                                                  message_id="bench-1")),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(args.repeats):  # interleaved, so that the machine's noise hits all
        for name, call in cases:
            times[name].append(timeit.timeit(call, number=args.number) / args.number * 1e6)
    print(f"{len(body)}-byte envelope, {args.repeats} repeats × {args.number} calls:")
    for name, values in times.items():
        print(f"  {name:28s} median {statistics.median(values):6.1f} µs "
              f"({min(values):.1f}–{max(values):.1f})")


if __name__ == "__main__":
    main()
