//! Session reports kept beside the journals (`infra::cache`), so that `report --all` over
//! thousands of sessions reads one small file per session instead of parsing and folding every
//! journal.
//!
//! Invariant: a cached report is the report `build` makes of exactly the journal its key names,
//! with no prices applied; the cost is priced at read time from the user's config as it is now.

use super::*;
use crate::core::sessions::{self, Listed};
use crate::infra::{cache, gitops};

/// The report and what the JSON schema leaves out but combining sessions needs.
#[derive(serde::Deserialize)]
struct Cached {
    report: SessionReport,
    cycle_review_ms: u64,
}

#[derive(Serialize)]
struct CachedRef<'a> {
    report: &'a SessionReport,
    cycle_review_ms: u64,
}

/// Reports built while the listing read their journals (`sessions::list_visiting`), so a
/// journal read for its summary is not read again for its report.
#[derive(Default)]
pub(super) struct Built(HashMap<String, SessionReport>);

impl Built {
    pub(super) fn visit(&mut self, cache_dir: &Path, read: sessions::Read<'_>) {
        let report = build(read.state, read.entries, &BTreeMap::new());
        if let Some(k) = read.key {
            store(cache_dir, &format!("{}.report", read.id), k, &report);
        }
        self.0.insert(read.id.to_string(), report);
    }
}

fn store(dir: &Path, name: &str, key: &cache::Key, report: &SessionReport) {
    let stored = CachedRef {
        report,
        cycle_review_ms: report.totals.cycle_review_ms,
    };
    cache::write(dir, name, key, &stored);
}

/// The report of a listed session: built during the listing, cached when its journal has not
/// changed, else built from the journal (and cached).
pub(super) fn report_of(
    root: &Path,
    listed: &Listed,
    built: &mut Built,
    prices: &BTreeMap<String, Price>,
) -> Result<SessionReport, ReportError> {
    let mut report = match built.0.remove(&listed.id) {
        Some(report) => report,
        None => cached_or_built(root, listed)?,
    };
    report.totals.estimated_cost = estimate_cost(&report.model, &report.totals, prices);
    Ok(report)
}

fn cached_or_built(root: &Path, listed: &Listed) -> Result<SessionReport, ReportError> {
    let repo = gitops::open(root)?;
    let dir = cache::dir(repo.path());
    let name = format!("{}.report", listed.id);
    if let Some(k) = &listed.key
        && let Some(c) = cache::read::<Cached>(&dir, &name, k)
    {
        let mut report = c.report;
        report.totals.cycle_review_ms = c.cycle_review_ms;
        return Ok(report);
    }
    let l = sessions::load(root, Some(&listed.id))?;
    let report = build(&l.state(), &l.entries, &BTreeMap::new());
    // Kept only when the journal did not change after it was listed: the report is then
    // derived from exactly what the key names.
    if let Some(k) = &listed.key
        && sessions::key_of(&repo, &listed.id, listed.local).as_ref() == Some(k)
    {
        store(&dir, &name, k, &report);
    }
    Ok(report)
}
