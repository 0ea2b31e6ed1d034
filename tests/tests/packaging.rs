//! What an app team's packaging promises, checked on the Linux CI machine (docs/BINDINGS.md
//! "Packaging"): one version everywhere, the Swift package's checksum is SwiftPM's, and the check
//! that Android libraries load on 16 KB-page devices refuses a 4 KB-aligned library. Gradle's
//! Android plugin and Xcode are not here; the scripts they run are, and are run.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// Every crate takes `version.workspace = true`, so this is the root Cargo.toml's version.
const WORKSPACE_VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `let NAME = "VALUE"` in a Swift manifest (the lines set-binary-target.sh writes).
fn swift_let(manifest: &str, name: &str) -> Option<String> {
    let prefix = format!("let {name} = \"");
    manifest.lines().find_map(|l| {
        l.strip_prefix(&prefix)?
            .strip_suffix('"')
            .map(str::to_owned)
    })
}

fn run(script: &str, args: &[&Path]) -> Output {
    Command::new(root().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_aar_the_swift_package_and_the_changelog_carry_the_workspace_version() {
    let gradle = read("android/gradle.properties");
    let aar = gradle
        .lines()
        .find_map(|l| l.strip_prefix("kluis.version="))
        .expect("android/gradle.properties has kluis.version");
    assert_eq!(
        aar.trim(),
        WORKSPACE_VERSION,
        "android/gradle.properties kluis.version"
    );

    let manifest = read("Package.swift");
    assert_eq!(
        swift_let(&manifest, "version").as_deref(),
        Some(WORKSPACE_VERSION),
        "root Package.swift `let version`"
    );
    // The released zip's URL is built from that version, so an old checksum cannot hide behind a new tag.
    assert!(manifest.contains("\\(releaseBase)/v\\(version)/KluisFFI.xcframework.zip"));

    let newest = read("CHANGELOG.md")
        .lines()
        .find_map(|l| l.strip_prefix("## [")?.split(']').next().map(str::to_owned))
        .expect("CHANGELOG.md has a '## [version]' heading");
    assert_eq!(newest, WORKSPACE_VERSION, "newest CHANGELOG.md heading");
}

#[test]
fn the_release_writes_swiftpms_checksum_of_the_zip_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("Package.swift");
    let before = read("Package.swift");
    fs::write(&manifest, &before).expect("copy manifest");
    fs::set_permissions(&manifest, fs::Permissions::from_mode(0o644)).expect("chmod");
    // A zip's local-file-header magic, then bytes no other test run has: the checksum must follow them.
    let mut zip = b"PK\x03\x04".to_vec();
    zip.extend_from_slice(format!("dummy xcframework {:?}", dir.path()).as_bytes());
    let zip_path = dir.path().join("KluisFFI.xcframework.zip");
    fs::write(&zip_path, &zip).expect("zip");

    let out = Command::new(root().join("ios/scripts/set-binary-target.sh"))
        .arg(&zip_path)
        .arg("https://releases.example/kluis/download/")
        .arg(&manifest)
        .output()
        .expect("run set-binary-target.sh");
    assert!(out.status.success(), "{}", text(&out));

    let after = fs::read_to_string(&manifest).expect("manifest");
    let sha256: String = Sha256::digest(&zip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(swift_let(&after, "xcframeworkChecksum"), Some(sha256));
    assert_eq!(
        swift_let(&after, "version").as_deref(),
        Some(WORKSPACE_VERSION)
    );
    assert_eq!(
        swift_let(&after, "releaseBase").as_deref(),
        Some("https://releases.example/kluis/download")
    );
    // Only the three lines changed; the manifest is still readable by others (SwiftPM, git).
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.split(" = ").next().unwrap_or(b))
        .collect();
    assert_eq!(before.lines().count(), after.lines().count());
    assert!(
        changed
            .iter()
            .all(|l| ["let releaseBase", "let xcframeworkChecksum", "let version"].contains(l)),
        "changed: {changed:?}"
    );
    let mode = fs::metadata(&manifest).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn the_release_refuses_a_non_zip_a_plain_http_url_and_a_foreign_manifest_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("Package.swift");
    let original = read("Package.swift");
    fs::write(&manifest, &original).expect("copy manifest");
    let zip = dir.path().join("ok.zip");
    fs::write(&zip, b"PK\x03\x04payload").expect("zip");
    let not_zip = dir.path().join("KluisFFI.xcframework.zip");
    fs::write(&not_zip, b"<html>404 Not Found</html>").expect("html");
    let script = root().join("ios/scripts/set-binary-target.sh");
    let attempt = |zip: &Path, url: &str, manifest: &Path| {
        Command::new(&script)
            .arg(zip)
            .arg(url)
            .arg(manifest)
            .output()
            .expect("run set-binary-target.sh")
    };

    let out = attempt(&not_zip, "https://releases.example/d", &manifest);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a zip archive"), "{}", text(&out));

    let out = attempt(&zip, "http://releases.example/d", &manifest);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("https://"), "{}", text(&out));

    // A URL that would break out of the Swift string literal.
    let out = attempt(&zip, "https://x.example/\";evil", &manifest);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(fs::read_to_string(&manifest).expect("manifest"), original);

    // A manifest without the three lines (someone renamed them) is not half-rewritten.
    let foreign = dir.path().join("Other.swift");
    let other = "// swift-tools-version:5.9\nlet version = \"9.9.9\"\n";
    fs::write(&foreign, other).expect("foreign");
    let out = attempt(&zip, "https://releases.example/d", &foreign);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("releaseBase"), "{}", text(&out));
    assert_eq!(fs::read_to_string(&foreign).expect("foreign"), other);
}

/// Links a one-function shared library with the host C compiler, optionally with the flag the
/// Android targets get from .cargo/config.toml.
fn tiny_library(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let src = dir.join("f.c");
    fs::write(&src, "int kluis_f(void) { return 1; }\n").expect("source");
    let lib = dir.join(name);
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .args(flags)
        .output()
        .expect("cc (the C compiler the Rust build links with)");
    assert!(out.status.success(), "{}", text(&out));
    lib
}

#[test]
fn the_page_size_check_refuses_4k_aligned_libraries_and_passes_16k_aligned_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let aligned = tiny_library(dir.path(), "lib16k.so", &["-Wl,-z,max-page-size=16384"]);
    let short = tiny_library(dir.path(), "lib4k.so", &["-Wl,-z,max-page-size=4096"]);
    let check = "android/kluis/check-page-size.sh";

    let out = run(check, &[&aligned]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("0x4000"), "{}", text(&out));

    let out = run(check, &[&short]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("0x1000"), "{}", text(&out));
    // One short library among good ones fails the whole set (build-native.sh checks three ABIs).
    let out = run(check, &[&aligned, &short, &aligned]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let not_elf = dir.path().join("libkluis_ffi.so");
    fs::write(&not_elf, b"version https://git-lfs.github.com/spec/v1\n").expect("pointer");
    let out = run(check, &[&not_elf]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not an ELF file"), "{}", text(&out));
    let out = run(check, &[&dir.path().join("absent.so")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
