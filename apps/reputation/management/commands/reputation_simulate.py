"""`manage.py reputation_simulate`: run a simulated population through the real services and print how the
consensus, the market price, the unweighted mean and the best single source scored (docs/reputation.md).

It writes real rows (users, claims, trades, scores): run it on a database meant for it, never production.
"""

import json
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.reputation.management import simulation


class Command(BaseCommand):
    help = "Simulate forecasters of hidden skill (with sybil swarms and noise) and report how the consensus scores."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--claims", type=int, default=200, help="claims, run one after another (default 200)")
        parser.add_argument("--sources", type=int, default=60, help="forecasting identities (default 60)")
        parser.add_argument("--domains", type=int, default=4, help="domains the claims are spread over (default 4)")
        parser.add_argument(
            "--population",
            default="today",
            choices=sorted(simulation.POPULATIONS),
            help="who forecasts (default today): " + "; ".join(f"{k}: {v}" for k, v in simulation.POPULATIONS.items()),
        )
        parser.add_argument("--seed", type=int, default=1, help="seed of the random generator (default 1)")
        parser.add_argument(
            "--warmup", type=float, default=0.5, help="share of the claims before measuring starts (default 0.5)"
        )
        parser.add_argument("--tag", default=None, help="prefix of the run's rows (default: sim<seed>, made unique)")
        parser.add_argument(
            "--unverified",
            action="store_true",
            help="the swarms are unverified accounts (everyone else a verified human): their agents spread over "
            "owners within the unverified limits; reports the consensus and the swarms' pull with the cap on "
            "unverified weight (CREDENCE_UNVERIFIED_WEIGHT_FACTOR) and without it",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument(
            "--dump", default=None, metavar="FILE", help="also write every source and claim of the run to FILE (JSON)"
        )
        parser.add_argument(
            "--pool",
            nargs="+",
            default=None,
            metavar="DUMP",
            help="run nothing: read these --dump files and print their scores pooled (no database needed)",
        )

    def handle(
        self, *args, claims, sources, domains, population, seed, warmup, tag, unverified, quiet, dump, pool, **options
    ) -> None:
        if pool:
            dumps = []
            for path in pool:
                try:
                    with open(path, encoding="utf-8") as source:
                        dumps.append(json.load(source))
                except (OSError, ValueError) as error:
                    raise CommandError(f"{path}: not a --dump file ({error}).") from error
            try:
                lines = simulation.pooled_lines(dumps)
            except (KeyError, TypeError) as error:
                raise CommandError(f"Not --dump files: a run or claim lacks {error}.") from error
            for line in lines:
                self.stdout.write(line)
            return
        module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if module.endswith(".production"):
            raise CommandError("reputation_simulate writes simulated users and claims: not with production settings.")
        if not 0 <= warmup < 1:
            raise CommandError("--warmup must be in [0, 1).")
        bar = tqdm(total=claims, unit="claim", disable=quiet, file=sys.stderr, dynamic_ncols=True)

        def progress(result: simulation.ClaimResult, running: simulation.RunningScore) -> None:
            if running.n:
                bar.set_postfix_str(
                    f"Brier out of sample: consensus {running.consensus / running.n:.3f}, "
                    f"market {running.market / running.n:.3f}",
                    refresh=False,
                )
            bar.update(1)

        try:
            report = simulation.simulate(
                claims=claims,
                sources=sources,
                domains=domains,
                seed=seed,
                warmup=warmup,
                kind=population,
                tag=tag,
                unverified=unverified,
                on_claim=progress,
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        finally:
            bar.close()
        for line in simulation.report_lines(report):
            self.stdout.write(line)
        if dump:
            with open(dump, "w", encoding="utf-8") as out:
                json.dump(simulation.dump(report), out)
            self.stdout.write(f"Wrote the run to {dump}.")
