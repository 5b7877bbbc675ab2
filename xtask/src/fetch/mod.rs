//! `cargo xtask fetch`: download (or import) datasets, verify them, and put them in place.
//!
//! Every file goes through the same steps, whether it comes from a mirror or from a local
//! directory (`--from`):
//!
//! 1. it is written to `<dir>/<name>.part` (a download resumes an existing `.part` with a
//!    `Range` request);
//! 2. the `.part` is verified against the catalogue's checksum ([`sources::Checksum`]);
//!    a `.part` that fails is deleted;
//! 3. only then is it renamed to `<dir>/<name>`, so nothing ever appears under the final
//!    name unless it has been verified.
//!
//! Gzip files verified by the SHA-256 of their decompressed content are always stored
//! gzip-compressed: a file that arrives uncompressed (a raw IDX file given to `--from`, or a
//! server that applied `Content-Encoding` anyway) is verified as is, then compressed to
//! `<name>` (`.gz`). Archives (CIFAR-10 and STL-10 `.tar.gz`, Tiny-ImageNet `.zip`) are
//! unpacked into a temporary directory inside the dataset directory, the expected files are
//! checked, and the top-level directory is renamed into place.
//!
//! With `--from`, an archive dataset may also be imported as an already extracted top-level
//! directory (e.g. `tiny-imagenet-200/`) when the archive itself is not there: it is copied
//! through the same temporary directory and checked by the expected files (there is no
//! archive checksum to verify then).

pub mod download;
pub mod sources;
pub mod verify;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

pub use download::AttemptError;
pub use sources::{ArchiveFormat, Checksum, Dataset, DatasetSpec, ExpectedFile, Extraction, RemoteFile};
pub use verify::{Verified, VerifyError};

/// Settings shared by every dataset of one `fetch` invocation.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The datasets root; a dataset lands in `<datasets_root>/<spec.name>/`.
    pub datasets_root: PathBuf,
    /// Base URLs replacing the catalogue's mirrors (empty: use the catalogue's).
    pub mirrors: Vec<String>,
    /// Import from this local directory instead of downloading. Files are looked up in
    /// `<from>/` and then `<from>/<dataset name>/`; for archive datasets an extracted
    /// top-level directory is accepted too (`<from>/<top>`, `<from>/<dataset name>/<top>`, or
    /// `<from>` itself).
    pub from: Option<PathBuf>,
    /// Keep archives (`.tar.gz`, `.zip`) after a successful extraction.
    pub keep_archives: bool,
    /// Draw progress bars (they are hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Print nothing while working (the returned report still says what happened).
    pub quiet: bool,
}

impl FetchOptions {
    pub fn new(datasets_root: impl Into<PathBuf>) -> Self {
        Self {
            datasets_root: datasets_root.into(),
            mirrors: Vec::new(),
            from: None,
            keep_archives: false,
            progress: true,
            quiet: false,
        }
    }

    fn say(&self, message: impl fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}

/// How one file (or extracted directory) came to be in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// It was already there and passed verification; nothing was fetched.
    AlreadyPresent,
    /// Downloaded from `url`; `resumed_from` bytes came from an earlier `.part`.
    Downloaded { url: String, resumed_from: u64 },
    /// Copied from a local file; `compressed` when it was raw and has been gzip-compressed.
    Imported { source: PathBuf, compressed: bool },
    /// Unpacked from this archive.
    Extracted { archive: String },
}

/// One line of a [`FetchReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub name: String,
    /// Where it is now.
    pub path: PathBuf,
    pub outcome: FileOutcome,
    /// What the verification checked.
    pub verified: Verified,
}

/// What [`fetch`] did for one dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    pub dataset: String,
    pub dir: PathBuf,
    pub files: Vec<FileReport>,
    /// Caveats worth repeating in the summary (e.g. "no checksum is published").
    pub notes: Vec<String>,
}

/// One mirror's failure for one file.
#[derive(Debug)]
pub struct MirrorFailure {
    pub url: String,
    pub error: AttemptError,
}

impl fmt::Display for MirrorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.url, self.error)
    }
}

fn list_failures(failures: &[MirrorFailure]) -> String {
    failures.iter().map(|m| format!("\n  - {m}")).collect()
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a dataset could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{file}: every mirror failed:{}", list_failures(failures))]
    AllMirrorsFailed {
        file: String,
        failures: Vec<MirrorFailure>,
    },
    #[error("{dataset}: no mirror to download {file} from")]
    NoMirrors { dataset: String, file: String },
    #[error("{file}: not found locally (tried {})", list_paths(tried))]
    NotFoundLocally { file: String, tried: Vec<PathBuf> },
    #[error("import of {}: {error}", source_path.display())]
    Import {
        source_path: PathBuf,
        error: AttemptError,
    },
    #[error("{}: cannot extract: {source}", archive.display())]
    Extract { archive: PathBuf, source: io::Error },
    #[error("{}: extracted content is wrong: {source}", archive.display())]
    Extracted { archive: PathBuf, source: VerifyError },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Fetch one dataset described by `spec` into `<opts.datasets_root>/<spec.name>/`.
pub fn fetch(spec: &DatasetSpec, opts: &FetchOptions) -> Result<FetchReport, FetchError> {
    let dir = opts.datasets_root.join(&spec.name);
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let mut report = FetchReport {
        dataset: spec.name.clone(),
        dir: dir.clone(),
        files: Vec::new(),
        notes: Vec::new(),
    };

    if let Some(ex) = &spec.extraction {
        let target = dir.join(&ex.top_dir);
        if verify::check_expected(&target, &ex.expected).is_ok() {
            opts.say(format_args!(
                "{}/{}: already present, verified (expected files and sizes)",
                spec.name, ex.top_dir
            ));
            report.files.push(FileReport {
                name: ex.top_dir.clone(),
                path: target,
                outcome: FileOutcome::AlreadyPresent,
                verified: Verified::Unchecked,
            });
            return Ok(report);
        }
    }

    if let (Some(from), Some(ex)) = (&opts.from, &spec.extraction)
        && let Some(archive) = spec.files.iter().find(|f| f.name == ex.archive)
        && !dir.join(&archive.name).is_file()
    {
        let archives = local_candidates(spec, archive, from);
        if !archives.iter().any(|p| p.is_file()) {
            let folders = folder_candidates(spec, ex, from);
            // A folder holding the dataset directory itself would be copied into itself.
            let inside = |f: &Path| match (dir.canonicalize(), f.canonicalize()) {
                (Ok(d), Ok(f)) => d.starts_with(f),
                _ => false,
            };
            let Some(folder) = folders
                .iter()
                .find(|f| f.is_dir() && !inside(f) && verify::check_expected(f, &ex.expected).is_ok())
            else {
                return Err(FetchError::NotFoundLocally {
                    file: archive.name.clone(),
                    tried: archives.into_iter().chain(folders).collect(),
                });
            };
            let note = format!(
                "{}: imported as an extracted folder, checked by its expected files only \
                 (the archive's {} cannot be verified)",
                ex.top_dir,
                archive.checksum.describe()
            );
            report.files.push(import_folder(&dir, ex, folder, opts)?);
            opts.say(&note);
            report.notes.push(note);
            return Ok(report);
        }
    }

    let mirrors = if opts.mirrors.is_empty() {
        &spec.mirrors
    } else {
        &opts.mirrors
    };
    let agent = download::agent();
    for file in &spec.files {
        if file.checksum == Checksum::None {
            let note = format!(
                "{}: no checksum is published; {}",
                file.name,
                if spec.extraction.is_some() {
                    "the extracted files are checked by name and size instead"
                } else {
                    "it is not verified"
                }
            );
            opts.say(&note);
            report.notes.push(note);
        }
        let file_report = obtain(spec, file, &dir, mirrors, &agent, opts)?;
        report.files.push(file_report);
    }

    if let Some(ex) = &spec.extraction {
        let archive_is_unchecked = spec
            .files
            .iter()
            .any(|f| f.name == ex.archive && f.checksum == Checksum::None);
        report.files.push(extract(&dir, ex, archive_is_unchecked, opts)?);
    }
    Ok(report)
}

/// Fetch several built-in datasets, carrying on after a failure.
pub fn fetch_datasets(
    datasets: &[Dataset],
    opts: &FetchOptions,
) -> Vec<(Dataset, Result<FetchReport, FetchError>)> {
    datasets
        .iter()
        .map(|&dataset| {
            opts.say(format_args!("== {dataset}"));
            (dataset, fetch(&dataset.spec(), opts))
        })
        .collect()
}

/// `X` for a gzip file `X.gz` verified by its decompressed content: the name under which
/// the raw file may also be found.
fn raw_name(file: &RemoteFile) -> Option<&str> {
    match file.checksum {
        Checksum::Sha256Decompressed(_) => file.name.strip_suffix(".gz"),
        _ => None,
    }
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".part");
    path.with_file_name(name)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Make `file` present and verified in `dir`: keep it if it already is, otherwise import
/// or download it.
fn obtain(
    spec: &DatasetSpec,
    file: &RemoteFile,
    dir: &Path,
    mirrors: &[String],
    agent: &ureq::Agent,
    opts: &FetchOptions,
) -> Result<FileReport, FetchError> {
    let final_path = dir.join(&file.name);
    let part = part_path(&final_path);

    if final_path.exists() {
        match verify::verify_file(&final_path, &file.name, &file.checksum) {
            Ok(Verified::Raw) => {
                // Named `.gz` but holding the raw content: compress it in place.
                copy_file(&final_path, &part).map_err(io_error(&part))?;
                fs::remove_file(&final_path).map_err(io_error(&final_path))?;
                finalize(&part, &final_path, file).map_err(|error| FetchError::Import {
                    source_path: final_path.clone(),
                    error,
                })?;
                opts.say(format_args!(
                    "{}: already present, verified (was not compressed; now gzip)",
                    file.name
                ));
                return Ok(present(file, final_path, Verified::Gzip));
            }
            Ok(verified) => {
                opts.say(format_args!(
                    "{}: already present, {}",
                    file.name,
                    if verified == Verified::Unchecked {
                        "not verified (no checksum)"
                    } else {
                        "verified"
                    }
                ));
                return Ok(present(file, final_path, verified));
            }
            Err(e) => {
                opts.say(format_args!(
                    "{}: present but fails verification ({e}); fetching it again",
                    file.name
                ));
                fs::remove_file(&final_path).map_err(io_error(&final_path))?;
            }
        }
    }
    if let Some(raw) = raw_name(file) {
        let raw_path = dir.join(raw);
        if raw_path.is_file()
            && matches!(
                verify::verify_file(&raw_path, raw, &file.checksum),
                Ok(Verified::Raw)
            )
        {
            opts.say(format_args!("{raw}: already present (uncompressed), verified"));
            return Ok(present(file, raw_path, Verified::Raw));
        }
    }

    let (outcome, verified) = match &opts.from {
        Some(from) => import(spec, file, from, &part, &final_path, opts)?,
        None => download_from_mirrors(spec, file, mirrors, &part, &final_path, agent, opts)?,
    };
    Ok(FileReport {
        name: file.name.clone(),
        path: final_path,
        outcome,
        verified,
    })
}

fn present(file: &RemoteFile, path: PathBuf, verified: Verified) -> FileReport {
    FileReport {
        name: file.name.clone(),
        path,
        outcome: FileOutcome::AlreadyPresent,
        verified,
    }
}

/// Verify `part`, compress it if it is raw content of a `.gz` file, and rename it to
/// `final_path`. On failure `part` is deleted and nothing is left at `final_path`.
fn finalize(part: &Path, final_path: &Path, file: &RemoteFile) -> Result<Verified, AttemptError> {
    let result = finalize_inner(part, final_path, file);
    if result.is_err() {
        let _ = remove_if_exists(part);
    }
    result
}

fn finalize_inner(part: &Path, final_path: &Path, file: &RemoteFile) -> Result<Verified, AttemptError> {
    let verified = verify::verify_file(part, &file.name, &file.checksum)?;
    if verified == Verified::Raw {
        let compressed = part.with_extension("gz.part");
        let io_err = |source| AttemptError::Io {
            path: compressed.clone(),
            source,
        };
        gzip_file(part, &compressed).map_err(io_err)?;
        match verify::verify_file(&compressed, &file.name, &file.checksum) {
            Ok(Verified::Gzip) => {}
            other => {
                let _ = remove_if_exists(&compressed);
                other?;
                unreachable!("compressed output verified, but not as gzip");
            }
        }
        fs::rename(&compressed, part).map_err(io_err)?;
    }
    fs::rename(part, final_path).map_err(|source| AttemptError::Io {
        path: final_path.to_owned(),
        source,
    })?;
    Ok(verified)
}

/// Copy the content only (not the permissions: imported files are often read-only).
fn copy_file(src: &Path, dst: &Path) -> io::Result<()> {
    let mut input = File::open(src)?;
    let mut output = File::create(dst)?;
    io::copy(&mut input, &mut output)?;
    output.sync_all()
}

fn gzip_file(src: &Path, dst: &Path) -> io::Result<()> {
    let mut input = BufReader::new(File::open(src)?);
    let mut encoder = GzEncoder::new(BufWriter::new(File::create(dst)?), Compression::default());
    io::copy(&mut input, &mut encoder)?;
    let writer = encoder.finish()?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn download_from_mirrors(
    spec: &DatasetSpec,
    file: &RemoteFile,
    mirrors: &[String],
    part: &Path,
    final_path: &Path,
    agent: &ureq::Agent,
    opts: &FetchOptions,
) -> Result<(FileOutcome, Verified), FetchError> {
    if mirrors.is_empty() {
        return Err(FetchError::NoMirrors {
            dataset: spec.name.clone(),
            file: file.name.clone(),
        });
    }
    let mut failures = Vec::new();
    for base in mirrors {
        let url = sources::file_url(base, &file.name);
        opts.say(format_args!("{}: downloading {url}", file.name));
        match attempt(agent, &url, part, final_path, file, opts) {
            Ok((resumed_from, verified)) => {
                opts.say(format_args!(
                    "{}: downloaded{}, {}",
                    file.name,
                    if resumed_from > 0 {
                        format!(" (resumed at byte {resumed_from})")
                    } else {
                        String::new()
                    },
                    describe_verified(verified, &file.checksum)
                ));
                return Ok((FileOutcome::Downloaded { url, resumed_from }, verified));
            }
            Err(error) => {
                opts.say(format_args!("{}: {url} failed: {error}", file.name));
                failures.push(MirrorFailure { url, error });
            }
        }
    }
    Err(FetchError::AllMirrorsFailed {
        file: file.name.clone(),
        failures,
    })
}

/// Download from one URL and finalize. A resumed download that fails verification is
/// retried once from scratch, since the earlier bytes may have come from a different file.
fn attempt(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    final_path: &Path,
    file: &RemoteFile,
    opts: &FetchOptions,
) -> Result<(u64, Verified), AttemptError> {
    let show = opts.progress && !opts.quiet;
    let got = download::download(agent, url, part, &file.name, show)?;
    match finalize(part, final_path, file) {
        Ok(verified) => Ok((got.resumed_from, verified)),
        Err(AttemptError::Verify(e)) if got.resumed_from > 0 => {
            opts.say(format_args!(
                "{}: resumed download failed verification ({e}); downloading from scratch",
                file.name
            ));
            let got = download::download(agent, url, part, &file.name, show)?;
            let verified = finalize(part, final_path, file)?;
            Ok((got.resumed_from, verified))
        }
        Err(e) => Err(e),
    }
}

/// Where `--from` looks for `file`: `<from>/` then `<from>/<dataset name>/`, each with the
/// raw name of a `.gz` file as well.
fn local_candidates(spec: &DatasetSpec, file: &RemoteFile, from: &Path) -> Vec<PathBuf> {
    let mut tried = Vec::new();
    for dir in [from.to_owned(), from.join(&spec.name)] {
        tried.push(dir.join(&file.name));
        if let Some(raw) = raw_name(file) {
            tried.push(dir.join(raw));
        }
    }
    tried
}

/// Where `--from` looks for an already extracted top-level directory.
fn folder_candidates(spec: &DatasetSpec, ex: &Extraction, from: &Path) -> Vec<PathBuf> {
    vec![
        from.join(&ex.top_dir),
        from.join(&spec.name).join(&ex.top_dir),
        from.to_owned(),
    ]
}

fn import(
    spec: &DatasetSpec,
    file: &RemoteFile,
    from: &Path,
    part: &Path,
    final_path: &Path,
    opts: &FetchOptions,
) -> Result<(FileOutcome, Verified), FetchError> {
    let tried = local_candidates(spec, file, from);
    let Some(source) = tried.iter().find(|p| p.is_file()).cloned() else {
        return Err(FetchError::NotFoundLocally {
            file: file.name.clone(),
            tried,
        });
    };
    opts.say(format_args!("{}: importing {}", file.name, source.display()));
    let import_error = |error| FetchError::Import {
        source_path: source.clone(),
        error,
    };
    copy_file(&source, part).map_err(|e| {
        let _ = remove_if_exists(part);
        import_error(AttemptError::Io {
            path: part.to_owned(),
            source: e,
        })
    })?;
    let verified = finalize(part, final_path, file).map_err(import_error)?;
    opts.say(format_args!(
        "{}: imported, {}{}",
        file.name,
        describe_verified(verified, &file.checksum),
        if verified == Verified::Raw {
            " (stored gzip-compressed)"
        } else {
            ""
        }
    ));
    Ok((
        FileOutcome::Imported {
            source,
            compressed: verified == Verified::Raw,
        },
        verified,
    ))
}

fn describe_verified(verified: Verified, checksum: &Checksum) -> String {
    match verified {
        Verified::Unchecked => "not verified (no checksum published)".to_owned(),
        _ => format!("verified ({})", checksum.describe()),
    }
}

/// Fill a fresh temporary directory inside `dir` with `fill`, check the expected files of
/// `<tmp>/<top_dir>`, and rename that directory to `<dir>/<top_dir>`. The temporary
/// directory is removed whatever happens; nothing appears at the target unless it passed.
fn place_extracted(
    dir: &Path,
    ex: &Extraction,
    checked: &Path,
    fill: impl FnOnce(&Path) -> Result<(), FetchError>,
) -> Result<PathBuf, FetchError> {
    let tmp = dir.join(".extract.tmp");
    let target = dir.join(&ex.top_dir);
    let result = (|| {
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_error(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_error(&tmp))?;
        fill(&tmp)?;
        let extracted = tmp.join(&ex.top_dir);
        verify::check_expected(&extracted, &ex.expected).map_err(|source| FetchError::Extracted {
            archive: checked.to_owned(),
            source,
        })?;
        if target.exists() {
            fs::remove_dir_all(&target).map_err(io_error(&target))?;
        }
        fs::rename(&extracted, &target).map_err(io_error(&target))
    })();
    let _ = fs::remove_dir_all(&tmp);
    result.map(|()| target)
}

/// Unpack a `.zip` into `dest`. Entries are written as plain files and directories (no
/// permissions from the archive); an entry whose path would leave `dest` is an error.
fn unzip(archive: &Path, dest: &Path) -> io::Result<()> {
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(archive)?))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let Some(relative) = entry.enclosed_name().map(Path::to_owned) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "entry {:?} would be written outside the archive's folder",
                    entry.name()
                ),
            ));
        };
        let out = dest.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&out)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut writer = BufWriter::new(File::create(&out)?);
        // The zip reader checks each entry's CRC-32 when it reaches the end of the entry.
        io::copy(&mut entry, &mut writer)?;
        writer.into_inner().map_err(|e| e.into_error())?;
    }
    Ok(())
}

/// Unpack the (verified) archive into a temporary directory inside `dir`, check the
/// expected files, and rename the top-level directory into place.
fn extract(
    dir: &Path,
    ex: &Extraction,
    archive_is_unchecked: bool,
    opts: &FetchOptions,
) -> Result<FileReport, FetchError> {
    let archive = dir.join(&ex.archive);
    opts.say(format_args!(
        "{}: extracting into {}",
        ex.archive,
        dir.join(&ex.top_dir).display()
    ));

    let result = place_extracted(dir, ex, &archive, |tmp| {
        let extract_error = |source| FetchError::Extract {
            archive: archive.clone(),
            source,
        };
        match ex.format() {
            ArchiveFormat::TarGz => {
                let reader = BufReader::new(File::open(&archive).map_err(extract_error)?);
                tar::Archive::new(GzDecoder::new(reader))
                    .unpack(tmp)
                    .map_err(extract_error)
            }
            ArchiveFormat::Zip => unzip(&archive, tmp).map_err(extract_error),
        }
    });
    let target = match result {
        Ok(target) => target,
        Err(e) => {
            if archive_is_unchecked {
                // Nothing but the extraction vouched for this archive: it is bad.
                let _ = remove_if_exists(&archive);
            }
            return Err(e);
        }
    };
    if !opts.keep_archives {
        fs::remove_file(&archive).map_err(io_error(&archive))?;
    }
    opts.say(format_args!(
        "{}: extracted, expected files and sizes verified{}",
        ex.top_dir,
        if opts.keep_archives {
            ""
        } else {
            "; archive removed"
        }
    ));
    Ok(FileReport {
        name: ex.top_dir.clone(),
        path: target,
        outcome: FileOutcome::Extracted {
            archive: ex.archive.clone(),
        },
        verified: Verified::Unchecked,
    })
}

/// Copy the files under `src` into `dst` (created), content only, following symbolic links.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), FetchError> {
    fs::create_dir_all(dst).map_err(io_error(dst))?;
    for entry in fs::read_dir(src).map_err(io_error(src))? {
        let from = entry.map_err(io_error(src))?.path();
        let to = dst.join(from.file_name().unwrap_or_default());
        if fs::metadata(&from).map_err(io_error(&from))?.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            copy_file(&from, &to).map_err(io_error(&from))?;
        }
    }
    Ok(())
}

/// Copy an already extracted top-level directory into place (see the module documentation).
fn import_folder(
    dir: &Path,
    ex: &Extraction,
    folder: &Path,
    opts: &FetchOptions,
) -> Result<FileReport, FetchError> {
    opts.say(format_args!(
        "{}: importing the extracted folder {}",
        ex.top_dir,
        folder.display()
    ));
    let target = place_extracted(dir, ex, folder, |tmp| copy_tree(folder, &tmp.join(&ex.top_dir)))?;
    Ok(FileReport {
        name: ex.top_dir.clone(),
        path: target,
        outcome: FileOutcome::Imported {
            source: folder.to_owned(),
            compressed: false,
        },
        verified: Verified::Unchecked,
    })
}

impl fmt::Display for FetchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} -> {}", self.dataset, self.dir.display())?;
        for file in &self.files {
            let what = match &file.outcome {
                FileOutcome::AlreadyPresent => "already present".to_owned(),
                FileOutcome::Downloaded { url, resumed_from } if *resumed_from > 0 => {
                    format!("downloaded from {url} (resumed at byte {resumed_from})")
                }
                FileOutcome::Downloaded { url, .. } => format!("downloaded from {url}"),
                FileOutcome::Imported { source, compressed } => format!(
                    "imported from {}{}",
                    source.display(),
                    if *compressed { " (gzip-compressed)" } else { "" }
                ),
                FileOutcome::Extracted { archive } => format!("extracted from {archive}"),
            };
            let check = match file.verified {
                Verified::Gzip | Verified::Raw => "SHA-256 verified",
                Verified::Md5 => "MD5 verified",
                Verified::Unchecked if matches!(file.outcome, FileOutcome::Extracted { .. }) => {
                    "files and sizes verified"
                }
                Verified::Unchecked if file.path.is_dir() => "files and sizes verified",
                Verified::Unchecked => "no checksum",
            };
            writeln!(f, "  {:<28} {what}; {check}", file.name)?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        assert_eq!(part_path(Path::new("/d/x.gz")), PathBuf::from("/d/x.gz.part"));
        assert_eq!(
            Path::new("/d/x.gz.part").with_extension("gz.part"),
            PathBuf::from("/d/x.gz.gz.part")
        );
    }
}
