"""Before a run is recorded: its run directory, journal, sink and budget, and the checks that
must pass before anything is paid for. run_job and the cluster's recorder both start here."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from batchgen import pricing
from batchgen.errors import JournalError, ManifestError
from batchgen.manifest.prices import unpriced_message
from batchgen.models import DEFAULT_OUTPUT_DIR, Manifest
from batchgen.report.names import BUCKET_META, PUBLIC_URL_META, SIDECAR_META
from batchgen.retry import RetryPolicy
from batchgen.run.budget import Budget
from batchgen.run.layout import filename_for, set_aside
from batchgen.store.bucket import BucketSink, is_bucket_url
from batchgen.store.journal import JOURNAL_FILE, Journal
from batchgen.store.sink import IMAGES_DIR, Sink


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run directory ready for a run: the manifest with its filename settled, the open (and
    locked) journal, the sink, the bucket URL ("" for a local sink) and the budget."""

    manifest: Manifest
    run_dir: Path
    journal: Journal
    sink: Sink
    bucket: str
    budget: Budget


def prepare_run(
    manifest: Manifest, out: Path | str | None, *, fresh: bool, wait_scale: float = 1.0
) -> Prepared:
    """Open (or start afresh) the run directory's journal and sink and read what earlier runs
    left; the journal is closed again when this fails."""
    run_dir = run_dir_for(manifest, out)
    ours = (run_dir / JOURNAL_FILE).is_file()  # no journal: images/ there is not batchgen's
    journal = Journal.open(run_dir, fresh=fresh)  # locks the folder first
    try:
        if not fresh:
            refuse_unknown_images(run_dir, journal)
        elif ours:
            set_aside(run_dir, journal)  # deleted by clear_forgotten once this run is recorded
        filename = filename_for(manifest.output.filename, journal, earlier_run=ours and not fresh)
        output = dataclasses.replace(manifest.output, filename=filename)
        manifest = dataclasses.replace(manifest, output=output)
        sink = open_sink(manifest, run_dir, RetryPolicy(wait_scale=wait_scale))
        sink.prepare()
        bucket = sink.url if isinstance(sink, BucketSink) else ""
        journal.set_meta(BUCKET_META, bucket)
        if not bucket:  # a bucket's objects are looked up as needed, not dropped here
            journal.drop_missing_images(run_dir)
        journal.set_meta(SIDECAR_META, "1" if manifest.output.sidecar else "0")
        journal.set_meta(PUBLIC_URL_META, manifest.output.public_url or "")
        # what earlier runs spent is read before this run is recorded: nothing is left to
        # import or read between the run's row and its first request
        budget = budget_for(manifest, journal)
    except BaseException:
        journal.close()
        raise
    return Prepared(manifest, run_dir, journal, sink, bucket, budget)


def check_prices(manifest: Manifest) -> None:
    """A cap (from the manifest or --max-usd) needs a price for every model it may send to."""
    if manifest.max_usd is None:
        return
    models = [*manifest.models, *manifest.fallback.values()]
    missing = pricing.unpriced(
        models, kind=manifest.provider.api, resolution=manifest.resolution, prices=manifest.prices
    )
    if missing:
        raise ManifestError(
            [f"{manifest.source or 'manifest'}: {unpriced_message(m)}" for m in missing]
        )


def budget_for(manifest: Manifest, journal: Journal) -> Budget:
    """The run's budget; with `scope: job`, what earlier runs spent counts against it."""
    if manifest.budget_scope != "job":
        return Budget(manifest.max_usd)
    from batchgen.report.read import job_spend_usd  # the reader only for a job-wide cap

    return Budget(manifest.max_usd, spent_before_usd=job_spend_usd(journal))


def run_dir_for(manifest: Manifest, out: Path | str | None = None) -> Path:
    """--out/--state, else output.dir with {name} filled in (relative to the current directory);
    images going to a bucket, the state (journal, reports, thumbnails) stays in out/{name}."""
    if out is not None:
        return Path(out)
    folder = DEFAULT_OUTPUT_DIR if is_bucket_url(manifest.output.dir) else manifest.output.dir
    return Path(folder.replace("{name}", manifest.name))


def open_sink(manifest: Manifest, run_dir: Path, policy: RetryPolicy) -> Sink:
    """A local Sink under the run directory, or for s3:// gs:// az:// a BucketSink."""
    url = manifest.output.dir.replace("{name}", manifest.name)
    return BucketSink(url, run_dir, policy=policy) if is_bucket_url(url) else Sink(run_dir)


def refuse_unknown_images(run_dir: Path, journal: Journal) -> None:
    """A journal that knows no run beside an images/ folder with files in it (the journal was
    deleted or emptied): a run would pay for every image again and overwrite the files."""
    images = run_dir / IMAGES_DIR
    if journal.is_new() and any(files for _, _, files in os.walk(images)):
        raise JournalError(
            f"{images} holds images, but the journal beside it ({journal.path.name}) knows "
            "of no run: it was deleted or emptied. Running now would pay for those images "
            f"again and overwrite them. Rerun with --fresh to start over (it deletes {images}),"
            " or choose another --out."
        )
