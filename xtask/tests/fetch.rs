//! End-to-end tests of `xtask::fetch` against a hand-written HTTP/1.1 server on 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use xtask::fetch::{
    self, AttemptError, Checksum, DatasetSpec, ExpectedFile, Extraction, FetchError, FetchOptions,
    FileOutcome, RemoteFile, Verified, VerifyError,
};

// ---------------------------------------------------------------------------------------
// A tiny, bounded HTTP/1.1 server: one request per connection, `Connection: close`.

#[derive(Clone)]
enum Behavior {
    /// 200 with Content-Length; with `ranges`, `Range: bytes=N-` gets a 206 (or a 416).
    Serve { body: Vec<u8>, ranges: bool },
    /// 200 announcing the full Content-Length, then only `after` bytes and a closed socket.
    Cut { body: Vec<u8>, after: usize },
}

#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: HashMap<String, String>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serve at most `max_connections` connections (and for at most 20 s), then stop.
    /// Paths not in `routes` get a 404.
    fn start(routes: Vec<(&str, Behavior)>, max_connections: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: HashMap<String, Behavior> = routes.into_iter().map(|(p, b)| (p.to_owned(), b)).collect();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut served = 0;
                while served < max_connections && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            if let Some(request) = handle(stream, &routes) {
                                requests.lock().unwrap().push(request);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        Server {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(stream: TcpStream, routes: &HashMap<String, Behavior>) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let request = Request { path, headers };
    let mut stream = stream;
    let head = |status: &str, extra: &str, len: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {len}\r\n\
             Content-Type: application/octet-stream\r\n{extra}Connection: close\r\n\r\n"
        )
    };
    match routes.get(&request.path) {
        None => {
            let body = "not found";
            let _ = stream.write_all(head("404 Not Found", "", body.len()).as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
        Some(Behavior::Serve { body, ranges }) => {
            let start = request
                .header("range")
                .filter(|_| *ranges)
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok());
            match start {
                Some(start) if start >= body.len() => {
                    let extra = format!("Content-Range: bytes */{}\r\n", body.len());
                    let _ = stream.write_all(head("416 Range Not Satisfiable", &extra, 0).as_bytes());
                }
                Some(start) => {
                    let extra = format!(
                        "Content-Range: bytes {start}-{}/{}\r\n",
                        body.len() - 1,
                        body.len()
                    );
                    let rest = &body[start..];
                    let _ = stream.write_all(head("206 Partial Content", &extra, rest.len()).as_bytes());
                    let _ = stream.write_all(rest);
                }
                None => {
                    let _ = stream.write_all(head("200 OK", "", body.len()).as_bytes());
                    let _ = stream.write_all(body);
                }
            }
        }
        Some(Behavior::Cut { body, after }) => {
            let _ = stream.write_all(head("200 OK", "", body.len()).as_bytes());
            let _ = stream.write_all(&body[..*after]);
            let _ = stream.flush();
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
    Some(request)
}

// ---------------------------------------------------------------------------------------
// Synthetic data and helpers.

/// Incompressible pseudo-random bytes (xorshift), so that the gzip file is about as long.
fn synthetic(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

fn md5(data: &[u8]) -> String {
    use md5::Digest as _;
    format!("{:x}", md5::Md5::digest(data))
}

fn gz_spec(name: &str, files: &[(&str, &[u8])], mirrors: Vec<String>) -> DatasetSpec {
    DatasetSpec {
        name: name.to_owned(),
        mirrors,
        files: files
            .iter()
            .map(|(file, raw)| RemoteFile::new(*file, Checksum::Sha256Decompressed(sha256(raw))))
            .collect(),
        extraction: None,
    }
}

fn options(root: &Path) -> FetchOptions {
    let mut opts = FetchOptions::new(root);
    opts.progress = false;
    opts
}

/// Names in `dir` that are leftovers of an unfinished fetch.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".part") || n.starts_with(".extract"))
                .collect()
        })
        .unwrap_or_default()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------------------------------
// Downloads.

#[test]
fn good_files_are_verified_and_renamed() {
    let (a, b) = (synthetic(1, 50_000), synthetic(2, 3_000));
    let (a_gz, b_gz) = (gzip(&a), gzip(&b));
    let server = Server::start(
        vec![
            (
                "/m/a.gz",
                Behavior::Serve {
                    body: a_gz.clone(),
                    ranges: true,
                },
            ),
            (
                "/m/b.gz",
                Behavior::Serve {
                    body: b_gz.clone(),
                    ranges: true,
                },
            ),
        ],
        4,
    );
    let spec = gz_spec("toy", &[("a.gz", &a), ("b.gz", &b)], vec![server.url("/m/")]);
    let root = tempdir();
    let report = fetch::fetch(&spec, &options(root.path())).unwrap();

    let dir = root.path().join("toy");
    assert_eq!(report.dir, dir);
    assert_eq!(std::fs::read(dir.join("a.gz")).unwrap(), a_gz);
    assert_eq!(std::fs::read(dir.join("b.gz")).unwrap(), b_gz);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            url: server.url("/m/a.gz"),
            resumed_from: 0
        }
    );
    assert_eq!(report.files[0].verified, Verified::Gzip);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("accept-encoding"), Some("identity"));
    assert_eq!(requests[0].header("range"), None);

    // A second run finds both files in place and asks the server for nothing.
    let again = fetch::fetch(&spec, &options(root.path())).unwrap();
    assert!(
        again
            .files
            .iter()
            .all(|f| f.outcome == FileOutcome::AlreadyPresent)
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn wrong_checksum_names_the_check_and_leaves_nothing() {
    let data = synthetic(3, 20_000);
    let served = synthetic(4, 20_000);
    let server = Server::start(
        vec![(
            "/x.gz",
            Behavior::Serve {
                body: gzip(&served),
                ranges: true,
            },
        )],
        2,
    );
    let spec = gz_spec("toy", &[("x.gz", &data)], vec![server.url("/")]);
    let root = tempdir();
    let err = fetch::fetch(&spec, &options(root.path())).unwrap_err();

    let message = err.to_string();
    let expected = format!(
        "x.gz: SHA-256 of decompressed content is {}, expected {}",
        sha256(&served),
        sha256(&data)
    );
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains(&server.url("/x.gz")), "{message}");
    match &err {
        FetchError::AllMirrorsFailed { file, failures } => {
            assert_eq!(file, "x.gz");
            assert_eq!(failures.len(), 1);
            assert!(matches!(
                failures[0].error,
                AttemptError::Verify(VerifyError::Mismatch { .. })
            ));
        }
        other => panic!("unexpected error {other:?}"),
    }
    let dir = root.path().join("toy");
    assert!(!dir.join("x.gz").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn cut_transfer_fails_then_resumes_with_a_range_request() {
    let data = synthetic(5, 200_000);
    let gz = gzip(&data);
    let cut_at = 70_000;
    let spec = |mirror: String| gz_spec("toy", &[("x.gz", &data)], vec![mirror]);
    let root = tempdir();
    let dir = root.path().join("toy");

    let cutting = Server::start(
        vec![(
            "/x.gz",
            Behavior::Cut {
                body: gz.clone(),
                after: cut_at,
            },
        )],
        1,
    );
    let err = fetch::fetch(&spec(cutting.url("/")), &options(root.path())).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("truncated body"), "{message}");
    assert!(message.contains(&format!("of {} bytes", gz.len())), "{message}");
    assert!(message.contains(&cutting.url("/x.gz")), "{message}");
    assert!(!dir.join("x.gz").exists());
    let partial = std::fs::metadata(dir.join("x.gz.part")).unwrap().len();
    assert!(partial > 0 && partial <= cut_at as u64, "{partial}");

    let resuming = Server::start(
        vec![(
            "/x.gz",
            Behavior::Serve {
                body: gz.clone(),
                ranges: true,
            },
        )],
        1,
    );
    let report = fetch::fetch(&spec(resuming.url("/")), &options(root.path())).unwrap();
    let requests = resuming.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("range"),
        Some(format!("bytes={partial}-").as_str())
    );
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            url: resuming.url("/x.gz"),
            resumed_from: partial
        }
    );
    assert_eq!(std::fs::read(dir.join("x.gz")).unwrap(), gz);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn not_found_on_first_mirror_then_second_mirror() {
    let data = synthetic(6, 10_000);
    let gz = gzip(&data);
    let server = Server::start(
        vec![(
            "/second/x.gz",
            Behavior::Serve {
                body: gz.clone(),
                ranges: true,
            },
        )],
        3,
    );
    let spec = gz_spec(
        "toy",
        &[("x.gz", &data)],
        vec![server.url("/first"), server.url("/second/")],
    );
    let root = tempdir();
    let report = fetch::fetch(&spec, &options(root.path())).unwrap();
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            url: server.url("/second/x.gz"),
            resumed_from: 0
        }
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/first/x.gz", "/second/x.gz"]);
    assert_eq!(std::fs::read(root.path().join("toy/x.gz")).unwrap(), gz);
}

#[test]
fn every_mirror_failure_is_reported() {
    let data = synthetic(7, 10_000);
    let server = Server::start(
        vec![(
            "/bad/x.gz",
            Behavior::Serve {
                body: gzip(&synthetic(8, 10_000)),
                ranges: true,
            },
        )],
        3,
    );
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let refused = format!("http://127.0.0.1:{closed_port}/");
    let mirrors = vec![server.url("/missing/"), server.url("/bad/"), refused.clone()];
    let spec = gz_spec("toy", &[("x.gz", &data)], mirrors);
    let root = tempdir();
    let err = fetch::fetch(&spec, &options(root.path())).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("x.gz: every mirror failed:"), "{message}");
    assert!(
        message.contains(&format!("{}: HTTP status 404", server.url("/missing/x.gz"))),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "{}: x.gz: SHA-256 of decompressed content is",
            server.url("/bad/x.gz")
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("{refused}x.gz: request failed")),
        "{message}"
    );
    let dir = root.path().join("toy");
    assert!(!dir.join("x.gz").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn server_ignoring_range_restarts_from_zero() {
    let data = synthetic(9, 30_000);
    let gz = gzip(&data);
    let server = Server::start(
        vec![(
            "/x.gz",
            Behavior::Serve {
                body: gz.clone(),
                ranges: false,
            },
        )],
        1,
    );
    let root = tempdir();
    let dir = root.path().join("toy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x.gz.part"), vec![0xAB; 1000]).unwrap();
    let spec = gz_spec("toy", &[("x.gz", &data)], vec![server.url("/")]);
    let report = fetch::fetch(&spec, &options(root.path())).unwrap();
    assert_eq!(server.requests()[0].header("range"), Some("bytes=1000-"));
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            url: server.url("/x.gz"),
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(dir.join("x.gz")).unwrap(), gz);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn bad_resumed_part_is_discarded_and_downloaded_again() {
    let data = synthetic(10, 30_000);
    let gz = gzip(&data);
    let server = Server::start(
        vec![(
            "/x.gz",
            Behavior::Serve {
                body: gz.clone(),
                ranges: true,
            },
        )],
        2,
    );
    let root = tempdir();
    let dir = root.path().join("toy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x.gz.part"), vec![0xAB; 1000]).unwrap();
    let spec = gz_spec("toy", &[("x.gz", &data)], vec![server.url("/")]);
    let report = fetch::fetch(&spec, &options(root.path())).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("range"), Some("bytes=1000-"));
    assert_eq!(requests[1].header("range"), None);
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            url: server.url("/x.gz"),
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(dir.join("x.gz")).unwrap(), gz);
}

// ---------------------------------------------------------------------------------------
// Archives.

fn toy_archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("toy-bin/{name}"), &data[..])
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn archive_spec(mirror: String, checksum: Checksum, a_size: u64) -> DatasetSpec {
    DatasetSpec {
        name: "toy".to_owned(),
        mirrors: vec![mirror],
        files: vec![RemoteFile::new("toy.tar.gz", checksum)],
        extraction: Some(Extraction {
            archive: "toy.tar.gz".to_owned(),
            top_dir: "toy-bin".to_owned(),
            expected: vec![
                ExpectedFile::new("a.bin", Some(a_size)),
                ExpectedFile::new("b.bin", None),
            ],
        }),
    }
}

#[test]
fn archive_is_checked_by_md5_then_extracted_into_place() {
    let archive = toy_archive(&[("a.bin", synthetic(11, 300)), ("b.bin", vec![1, 2, 3])]);
    let server = Server::start(
        vec![(
            "/toy.tar.gz",
            Behavior::Serve {
                body: archive.clone(),
                ranges: true,
            },
        )],
        2,
    );
    let spec = archive_spec(server.url("/"), Checksum::Md5(md5(&archive)), 300);
    let root = tempdir();
    let report = fetch::fetch(&spec, &options(root.path())).unwrap();
    let dir = root.path().join("toy");
    assert_eq!(report.files.len(), 2);
    assert_eq!(report.files[0].verified, Verified::Md5);
    assert_eq!(
        report.files[1].outcome,
        FileOutcome::Extracted {
            archive: "toy.tar.gz".to_owned()
        }
    );
    assert_eq!(
        std::fs::read(dir.join("toy-bin/a.bin")).unwrap(),
        synthetic(11, 300)
    );
    assert_eq!(std::fs::read(dir.join("toy-bin/b.bin")).unwrap(), [1, 2, 3]);
    assert!(!dir.join("toy.tar.gz").exists(), "archive is removed by default");
    assert_eq!(leftovers(&dir), Vec::<String>::new());

    let again = fetch::fetch(&spec, &options(root.path())).unwrap();
    assert_eq!(again.files[0].outcome, FileOutcome::AlreadyPresent);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn wrong_md5_of_archive_is_reported() {
    let archive = toy_archive(&[("a.bin", vec![0; 10]), ("b.bin", vec![])]);
    let server = Server::start(
        vec![(
            "/toy.tar.gz",
            Behavior::Serve {
                body: archive.clone(),
                ranges: true,
            },
        )],
        1,
    );
    let spec = archive_spec(server.url("/"), Checksum::Md5("0".repeat(32)), 10);
    let root = tempdir();
    let message = fetch::fetch(&spec, &options(root.path()))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!(
            "toy.tar.gz: MD5 is {}, expected {}",
            md5(&archive),
            "0".repeat(32)
        )),
        "{message}"
    );
    let dir = root.path().join("toy");
    assert!(!dir.join("toy.tar.gz").exists() && !dir.join("toy-bin").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn unchecked_archive_with_wrong_sizes_is_rejected_and_removed() {
    let archive = toy_archive(&[("a.bin", vec![0; 10]), ("b.bin", vec![])]);
    let server = Server::start(
        vec![(
            "/toy.tar.gz",
            Behavior::Serve {
                body: archive,
                ranges: true,
            },
        )],
        1,
    );
    let root = tempdir();
    let mut opts = options(root.path());
    opts.keep_archives = true;
    let report = fetch::fetch(&archive_spec(server.url("/"), Checksum::None, 11), &opts);
    let message = report.unwrap_err().to_string();
    assert!(
        message.contains("a.bin: size is 10 bytes, expected 11"),
        "{message}"
    );
    let dir = root.path().join("toy");
    assert!(!dir.join("toy-bin").exists());
    assert!(
        !dir.join("toy.tar.gz").exists(),
        "an unverifiable archive is removed"
    );
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Imports (`--from`).

#[test]
fn raw_files_are_imported_and_stored_gzip_compressed() {
    let data = synthetic(12, 5_000);
    let src = tempdir();
    std::fs::write(src.path().join("x"), &data).unwrap();
    let root = tempdir();
    let mut opts = options(root.path());
    opts.from = Some(src.path().to_owned());
    let spec = gz_spec("toy", &[("x.gz", &data)], vec![]);
    let report = fetch::fetch(&spec, &opts).unwrap();
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Imported {
            source: src.path().join("x"),
            compressed: true
        }
    );
    let dir = root.path().join("toy");
    assert_eq!(gunzip(&std::fs::read(dir.join("x.gz")).unwrap()), data);
    assert!(!dir.join("x").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn import_of_a_missing_file_says_where_it_looked() {
    let src = tempdir();
    let root = tempdir();
    let mut opts = options(root.path());
    opts.from = Some(src.path().to_owned());
    let spec = gz_spec("toy", &[("x.gz", b"abc")], vec![]);
    let message = fetch::fetch(&spec, &opts).unwrap_err().to_string();
    assert!(message.starts_with("x.gz: not found locally"), "{message}");
    assert!(
        message.contains(&src.path().join("toy/x").display().to_string()),
        "{message}"
    );
}

/// A real dataset these tests read from outside the repository: `Some(dir)` when `dir` holds
/// `train-images-idx3-ubyte.gz`. When it does not, the test is skipped with a notice, except
/// under CI (`$CI` set), which provides the data (see `.ci/run`): there it fails.
fn external_dataset(dir: PathBuf, what: &str) -> Option<PathBuf> {
    if dir.join("train-images-idx3-ubyte.gz").is_file() {
        return Some(dir);
    }
    let message = format!("no {what} at {}", dir.display());
    if std::env::var_os("CI").is_some() {
        panic!("{message}: CI provides it (see .ci/run)");
    }
    println!("skipped: {message}");
    None
}

/// The real MNIST files, provided next to the repository as `../shared/datasets/mnist`.
fn real_mnist() -> Option<PathBuf> {
    external_dataset(xtask::workspace_root().join("../shared/datasets/mnist"), "MNIST")
}

/// Fashion-MNIST as Debian's `dataset-fashion-mnist` package installs it.
fn debian_fashion_mnist() -> Option<PathBuf> {
    external_dataset(
        PathBuf::from("/usr/share/datasets/fashion-mnist"),
        "Fashion-MNIST (Debian package dataset-fashion-mnist)",
    )
}

/// Imports the four IDX files of `spec` from `src` and checks that each was verified against
/// the catalogue's SHA-256, which must equal the hash of the decompressed source computed here.
fn imports_and_verifies(spec: &DatasetSpec, src: &Path) {
    let root = tempdir();
    let mut opts = options(root.path());
    opts.from = Some(src.to_owned());
    let report = fetch::fetch(spec, &opts).unwrap();
    assert_eq!(report.files.len(), 4);
    for (file, remote) in report.files.iter().zip(&spec.files) {
        assert_eq!(file.name, remote.name);
        let source = std::fs::read(src.join(&file.name)).unwrap();
        assert_eq!(
            remote.checksum,
            Checksum::Sha256Decompressed(sha256(&gunzip(&source))),
            "{}",
            file.name
        );
        assert_eq!(file.verified, Verified::Gzip, "{}", file.name);
        assert_eq!(
            file.outcome,
            FileOutcome::Imported {
                source: src.join(&file.name),
                compressed: false
            }
        );
        assert_eq!(std::fs::read(&file.path).unwrap(), source);
    }
    assert_eq!(leftovers(&root.path().join(&spec.name)), Vec::<String>::new());
}

/// Copies the files of `spec` from `src`, changes one byte of the decompressed test labels and
/// checks that the import fails on that file's SHA-256, leaving nothing behind.
fn changed_label_fails_to_import(spec: &DatasetSpec, src: &Path) {
    let corrupt = tempdir();
    for file in &spec.files {
        std::fs::copy(src.join(&file.name), corrupt.path().join(&file.name)).unwrap();
    }
    let name = "t10k-labels-idx1-ubyte.gz";
    let Some(Checksum::Sha256Decompressed(expected)) =
        spec.files.iter().find(|f| f.name == name).map(|f| &f.checksum)
    else {
        panic!("{name} is not checked by a SHA-256 in {}", spec.name);
    };
    let labels = corrupt.path().join(name);
    let mut raw = gunzip(&std::fs::read(&labels).unwrap());
    raw[100] = raw[100].wrapping_add(1);
    std::fs::write(&labels, gzip(&raw)).unwrap();
    let root = tempdir();
    let mut opts = options(root.path());
    opts.from = Some(corrupt.path().to_owned());
    let message = fetch::fetch(spec, &opts).unwrap_err().to_string();
    let want = format!(
        "{name}: SHA-256 of decompressed content is {}, expected {expected}",
        sha256(&raw)
    );
    assert!(message.contains(&want), "{message}");
    assert!(message.contains(&labels.display().to_string()), "{message}");
    let dir = root.path().join(&spec.name);
    assert!(!dir.join(name).exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn real_mnist_imports_and_verifies() {
    let Some(src) = real_mnist() else { return };
    imports_and_verifies(&fetch::sources::mnist(), &src);
}

#[test]
fn corrupted_mnist_copy_fails_to_import() {
    let Some(src) = real_mnist() else { return };
    let spec = fetch::sources::mnist();
    // Valid gzip, one label changed: the SHA-256 of the content catches it.
    changed_label_fails_to_import(&spec, &src);

    // A flipped byte inside the compressed stream fails as well.
    let corrupt = tempdir();
    for file in &spec.files {
        std::fs::copy(src.join(&file.name), corrupt.path().join(&file.name)).unwrap();
    }
    let images = corrupt.path().join("train-labels-idx1-ubyte.gz");
    let mut bytes = std::fs::read(&images).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&images, bytes).unwrap();
    let root = tempdir();
    let mut opts = options(root.path());
    opts.from = Some(corrupt.path().to_owned());
    let message = fetch::fetch(&spec, &opts).unwrap_err().to_string();
    assert!(
        message.contains("train-labels-idx1-ubyte.gz: SHA-256 of decompressed content"),
        "{message}"
    );
    let dir = root.path().join("mnist");
    assert!(!dir.join("train-labels-idx1-ubyte.gz").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn debian_fashion_mnist_imports_and_verifies() {
    let Some(src) = debian_fashion_mnist() else { return };
    let spec = fetch::sources::fashion_mnist();
    imports_and_verifies(&spec, &src);
    changed_label_fails_to_import(&spec, &src);
}

// ---------------------------------------------------------------------------------------
// Tiny-ImageNet: the real catalogue entry, a `.zip`, served or imported.

/// Files of a miniature `tiny-imagenet-200.zip` (names under `tiny-imagenet-200/`).
fn tiny_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("wnids.txt", b"n01443537\nn01629819\n".to_vec()),
        (
            "words.txt",
            b"n01443537\tgoldfish\nn01629819\tsalamander\n".to_vec(),
        ),
        ("train/n01443537/images/n01443537_0.JPEG", synthetic(20, 3_000)),
        (
            "train/n01443537/n01443537_boxes.txt",
            b"n01443537_0.JPEG\t0\t0\t63\t63\n".to_vec(),
        ),
        ("train/n01629819/images/n01629819_0.JPEG", synthetic(21, 2_000)),
        ("val/images/val_0.JPEG", synthetic(22, 2_500)),
        (
            "val/val_annotations.txt",
            b"val_0.JPEG\tn01629819\t0\t0\t63\t63\n".to_vec(),
        ),
        ("test/images/test_0.JPEG", synthetic(23, 1_000)),
    ]
}

/// A zip of `files` under `top/`, with directory entries as `zip -r` writes them; text
/// files stored, the rest deflated.
fn zip_archive(top: &str, files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use zip::write::FileOptions;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut dirs = std::collections::BTreeSet::new();
    for (name, data) in files {
        let path = format!("{top}/{name}");
        let mut prefix = String::new();
        for part in path.split('/').take(path.split('/').count() - 1) {
            prefix.push_str(part);
            prefix.push('/');
            if dirs.insert(prefix.clone()) {
                writer
                    .add_directory(prefix.clone(), FileOptions::default())
                    .unwrap();
            }
        }
        let method = if name.ends_with(".txt") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        writer
            .start_file(path, FileOptions::default().compression_method(method))
            .unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// The catalogue's Tiny-ImageNet entry pointed at `mirror`, with `md5` for the test's zip.
fn tiny_spec(mirror: String, md5: String) -> DatasetSpec {
    let mut spec = fetch::sources::tiny_imagenet();
    spec.mirrors = vec![mirror];
    spec.files[0].checksum = Checksum::Md5(md5);
    spec
}

fn assert_tiny_tree(top: &Path) {
    for (name, data) in tiny_files() {
        assert_eq!(std::fs::read(top.join(name)).unwrap(), data, "{name}");
    }
}

#[test]
fn tiny_imagenet_zip_is_md5_checked_then_unzipped_into_place() {
    let spec = fetch::sources::tiny_imagenet();
    assert_eq!(spec.name, "tiny-imagenet");
    assert_eq!(spec.mirrors, ["http://cs231n.stanford.edu/"]);
    assert_eq!(
        spec.files,
        [RemoteFile::new(
            "tiny-imagenet-200.zip",
            Checksum::Md5("90528d7ca1a48142e341f4ef8d21d0de".to_owned())
        )]
    );

    let archive = zip_archive("tiny-imagenet-200", &tiny_files());
    let server = Server::start(
        vec![(
            "/tiny/tiny-imagenet-200.zip",
            Behavior::Serve {
                body: archive.clone(),
                ranges: true,
            },
        )],
        2,
    );
    let spec = tiny_spec(server.url("/tiny/"), md5(&archive));
    let root = tempdir();
    let report = fetch::fetch(&spec, &options(root.path())).unwrap();
    let dir = root.path().join("tiny-imagenet");
    assert_eq!(report.files.len(), 2);
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            url: server.url("/tiny/tiny-imagenet-200.zip"),
            resumed_from: 0
        }
    );
    assert_eq!(report.files[0].verified, Verified::Md5);
    assert_eq!(
        report.files[1].outcome,
        FileOutcome::Extracted {
            archive: "tiny-imagenet-200.zip".to_owned()
        }
    );
    assert_eq!(report.files[1].path, dir.join("tiny-imagenet-200"));
    assert_tiny_tree(&dir.join("tiny-imagenet-200"));
    assert!(
        !dir.join("tiny-imagenet-200.zip").exists(),
        "archive removed by default"
    );
    assert_eq!(leftovers(&dir), Vec::<String>::new());

    // Already in place: nothing is requested again.
    let again = fetch::fetch(&spec, &options(root.path())).unwrap();
    assert_eq!(again.files[0].outcome, FileOutcome::AlreadyPresent);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn tiny_imagenet_cut_download_resumes_and_keep_archives_keeps_the_zip() {
    let archive = zip_archive("tiny-imagenet-200", &tiny_files());
    let root = tempdir();
    let dir = root.path().join("tiny-imagenet");
    let cutting = Server::start(
        vec![(
            "/tiny-imagenet-200.zip",
            Behavior::Cut {
                body: archive.clone(),
                after: archive.len() / 2,
            },
        )],
        1,
    );
    let mut opts = options(root.path());
    opts.keep_archives = true;
    let err = fetch::fetch(&tiny_spec(cutting.url("/"), md5(&archive)), &opts).unwrap_err();
    assert!(err.to_string().contains("truncated body"), "{err}");
    assert!(dir.join("tiny-imagenet-200.zip.part").is_file());
    assert!(!dir.join("tiny-imagenet-200").exists());

    let resuming = Server::start(
        vec![(
            "/tiny-imagenet-200.zip",
            Behavior::Serve {
                body: archive.clone(),
                ranges: true,
            },
        )],
        1,
    );
    let report = fetch::fetch(&tiny_spec(resuming.url("/"), md5(&archive)), &opts).unwrap();
    assert!(matches!(
        report.files[0].outcome,
        FileOutcome::Downloaded { resumed_from, .. } if resumed_from > 0
    ));
    assert_tiny_tree(&dir.join("tiny-imagenet-200"));
    assert_eq!(std::fs::read(dir.join("tiny-imagenet-200.zip")).unwrap(), archive);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn tiny_imagenet_wrong_md5_leaves_nothing_in_place() {
    let archive = zip_archive("tiny-imagenet-200", &tiny_files());
    let server = Server::start(
        vec![(
            "/tiny-imagenet-200.zip",
            Behavior::Serve {
                body: archive.clone(),
                ranges: true,
            },
        )],
        1,
    );
    // The catalogue's own MD5, which this small zip cannot match.
    let mut spec = fetch::sources::tiny_imagenet();
    spec.mirrors = vec![server.url("/")];
    let root = tempdir();
    let message = fetch::fetch(&spec, &options(root.path()))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!(
            "tiny-imagenet-200.zip: MD5 is {}, expected 90528d7ca1a48142e341f4ef8d21d0de",
            md5(&archive)
        )),
        "{message}"
    );
    let dir = root.path().join("tiny-imagenet");
    assert!(!dir.join("tiny-imagenet-200.zip").exists());
    assert!(!dir.join("tiny-imagenet-200").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn tiny_imagenet_zip_missing_expected_files_or_escaping_is_rejected() {
    let root = tempdir();
    let dir = root.path().join("tiny-imagenet");
    let mut files = tiny_files();
    files.retain(|(name, _)| *name != "wnids.txt");
    let escaping = zip_archive("tiny-imagenet-200", &[("../../evil.txt", b"x".to_vec())]);
    for (archive, expected) in [
        (
            zip_archive("tiny-imagenet-200", &files),
            format!(
                "{}: missing after extraction",
                Path::new("tiny-imagenet-200").join("wnids.txt").display()
            ),
        ),
        (escaping, "would be written outside".to_owned()),
    ] {
        let server = Server::start(
            vec![(
                "/tiny-imagenet-200.zip",
                Behavior::Serve {
                    body: archive.clone(),
                    ranges: true,
                },
            )],
            1,
        );
        let message = fetch::fetch(&tiny_spec(server.url("/"), md5(&archive)), &options(root.path()))
            .unwrap_err()
            .to_string();
        assert!(message.contains(&expected), "{message}");
        assert!(!dir.join("tiny-imagenet-200").exists());
        assert!(!root.path().join("evil.txt").exists() && !dir.join("evil.txt").exists());
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        // The MD5 vouched for the archive; it stays for another try (or inspection).
        std::fs::remove_file(dir.join("tiny-imagenet-200.zip")).unwrap();
    }
}

#[test]
fn tiny_imagenet_imports_the_zip_or_an_extracted_folder() {
    let archive = zip_archive("tiny-imagenet-200", &tiny_files());
    let spec = tiny_spec("http://127.0.0.1:9/unused/".to_owned(), md5(&archive));

    // The zip, found in <from>/.
    let src = tempdir();
    std::fs::write(src.path().join("tiny-imagenet-200.zip"), &archive).unwrap();
    let root = tempdir();
    let mut opts = options(root.path());
    opts.from = Some(src.path().to_owned());
    let report = fetch::fetch(&spec, &opts).unwrap();
    assert_eq!(report.files[0].verified, Verified::Md5);
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Imported {
            source: src.path().join("tiny-imagenet-200.zip"),
            compressed: false
        }
    );
    let dir = root.path().join("tiny-imagenet");
    assert_tiny_tree(&dir.join("tiny-imagenet-200"));
    assert!(
        src.path().join("tiny-imagenet-200.zip").is_file(),
        "the source is left alone"
    );

    // An extracted folder: as <from>/tiny-imagenet-200, and as <from> itself.
    let extracted = root.path().join("tiny-imagenet");
    for from in [extracted.clone(), extracted.join("tiny-imagenet-200")] {
        let root2 = tempdir();
        let mut opts = options(root2.path());
        opts.from = Some(from.clone());
        let report = fetch::fetch(&spec, &opts).unwrap();
        assert_eq!(report.files.len(), 1);
        assert_eq!(
            report.files[0].outcome,
            FileOutcome::Imported {
                source: extracted.join("tiny-imagenet-200"),
                compressed: false
            }
        );
        assert!(report.notes[0].contains("extracted folder"), "{:?}", report.notes);
        let dir2 = root2.path().join("tiny-imagenet");
        assert_tiny_tree(&dir2.join("tiny-imagenet-200"));
        assert_eq!(leftovers(&dir2), Vec::<String>::new());
    }

    // A folder without the expected files is not taken; the error lists every place tried.
    let empty = tempdir();
    std::fs::create_dir_all(empty.path().join("tiny-imagenet-200/train")).unwrap();
    let root3 = tempdir();
    let mut opts = options(root3.path());
    opts.from = Some(empty.path().to_owned());
    let message = fetch::fetch(&spec, &opts).unwrap_err().to_string();
    assert!(
        message.starts_with("tiny-imagenet-200.zip: not found locally"),
        "{message}"
    );
    assert!(
        message.contains(&empty.path().join("tiny-imagenet-200").display().to_string()),
        "{message}"
    );
    assert!(!root3.path().join("tiny-imagenet/tiny-imagenet-200").exists());
}
