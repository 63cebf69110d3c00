//! The HTML report as a person sees it: Debian's headless Chromium renders the page of
//! a fixed results file, and the DOM after rendering must hold the summary and the
//! failing cases with the hostile server text still text, while a screenshot must be a
//! real page of the requested size. Without /usr/bin/chromium the tests fail, never
//! skip: scripts/test installs it.

use acmespec::report::{self, Redactor};
use acmespec::scenario::embedded_catalogue;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);
const WINDOW: (u32, u32) = (1200, 2000);

/// The report page of the fixed results file, written into `dir`.
fn report_page(dir: &Path) -> PathBuf {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/results/mock-nonce-defects.json");
    let results = report::read_results(&fixture).unwrap_or_else(|e| panic!("{e}"));
    let requirements = embedded_catalogue()
        .expect("built-in catalogue")
        .requirements;
    let page = dir.join("report.html");
    std::fs::write(
        &page,
        report::to_html(&results, &requirements, &Default::default(), &Redactor::default()),
    )
    .expect("write the page");
    page
}

/// Runs headless Chromium on `page` with `args` in a fresh profile under `dir`, its
/// output going to `dir/stdout`; kills its whole process group if it outlives the
/// timeout, and afterwards whatever helper processes it left behind.
fn chromium(dir: &Path, page: &Path, args: &[String]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`; scripts/test does)"
    );
    let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let group = child.id();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break Some(status);
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Chromium's helpers share its process group; none may outlive the test.
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
    let errors = std::fs::read_to_string(&stderr).unwrap_or_default();
    match status {
        None => panic!(
            "chromium did not finish within {CHROMIUM_TIMEOUT:?} and was killed; stderr:\n{errors}"
        ),
        Some(s) if !s.success() => panic!("chromium failed ({s}); stderr:\n{errors}"),
        Some(_) => std::fs::read_to_string(&stdout).expect("chromium output"),
    }
}

/// The text a reader sees in a serialised DOM: the tags dropped, the entities decoded.
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body>").map_or(dom, |(_, body)| body);
    let mut text = String::new();
    let mut in_tag = false;
    for ch in body.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn the_rendered_page_shows_summary_and_failures_and_no_injected_element() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = report_page(dir.path());
    let dom = chromium(dir.path(), &page, &["--dump-dom".to_owned()]);
    assert!(
        dom.contains("<h1>acmespec report:"),
        "not the rendered report:\n{dom}"
    );
    let text = visible_text(&dom);
    for shown in [
        "6 passed, 3 failed, 0 blocked, 1 non-strict, 3 unsupported, 0 errors (13 cases)",
        "rfc8555/6.5/invented-nonce-bad-nonce",
        "Missing or unacceptable nonce yields 400 with error type badNonce",
        "set-cookie: [redacted]",
        // The hostile server text, shown as the characters it sent.
        "</pre></details><script>alert('detail')</script>",
        "acmespec-mock <img src=x onerror=alert(1)>",
    ] {
        assert!(
            text.contains(shown),
            "{shown:?} not in the rendered text:\n{text}"
        );
    }
    for element in ["<script", "<img", "<iframe"] {
        assert!(
            !dom.contains(element),
            "{element} became an element:\n{dom}"
        );
    }
    assert!(
        !text.contains("private-d-must-not-appear"),
        "a private key member reached the page"
    );
}

/// The width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}

fn screenshot(dir: &Path, page: &Path) -> Vec<u8> {
    let shot = dir.join("shot.png");
    chromium(
        dir,
        page,
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ],
    );
    std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()))
}

#[test]
fn the_screenshot_is_a_page_of_the_requested_size_not_a_blank() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = screenshot(dir.path(), &report_page(dir.path()));
    assert_eq!(png_size(&report), WINDOW);
    // A single-colour page compresses to almost nothing; the same shot of an empty page
    // is the yardstick.
    let blank_dir = tempfile::tempdir().expect("tempdir");
    let blank_page = blank_dir.path().join("blank.html");
    std::fs::write(&blank_page, "<!DOCTYPE html><html><body></body></html>")
        .expect("write the blank page");
    let blank = screenshot(blank_dir.path(), &blank_page);
    assert_eq!(png_size(&blank), WINDOW);
    assert!(
        report.len() > 4 * blank.len(),
        "the report's screenshot ({} bytes) is hardly larger than a blank page's ({} bytes)",
        report.len(),
        blank.len()
    );
}
