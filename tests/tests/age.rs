//! Encrypted dumps (issue 25): `d1-fetch --encrypt-to` writes age files that the reference
//! implementation (the `age` CLI, Debian package `age`) decrypts to the very bytes an
//! unencrypted fetch stores, and d1-verify reads files the `age` CLI wrote; X25519 and SSH
//! ed25519 keys. A wrong key, a truncated or altered file: exit 1 and nothing at the target;
//! no identity: exit 3. The pipeline with encryption verifies, and no row's text is on disk.

use d1_tests::*;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Text the sample database holds in its rows (crates/d1-emulator/src/seed.rs).
const ROW_TEXT: &str = "Body of post";

/// Runs a reference tool (age, age-keygen, ssh-keygen, sha256sum); its stdout, or a panic.
fn checked(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `age-keygen -o DIR/key.txt`; returns the identity file and its public key.
fn age_keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    checked(Command::new("age-keygen").arg("-o").arg(&key));
    let public = checked(Command::new("age-keygen").arg("-y").arg(&key));
    (key, String::from_utf8(public).unwrap().trim().to_string())
}

/// `ssh-keygen -t ed25519` without a passphrase; returns the private key file and the
/// public key line.
fn ssh_keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("id_ed25519");
    checked(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "backup@host", "-f"])
            .arg(&key),
    );
    let public = std::fs::read_to_string(dir.join("id_ed25519.pub")).unwrap();
    (key, public.trim().to_string())
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn manifest(dump: &Path) -> serde_json::Value {
    let mut p = dump.as_os_str().to_os_string();
    p.push(".json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Fetches the sample's dump into `dir` with `extra` options; returns the dump's path.
fn fetch(emu: &Emulator, dir: &Path, extra: &[&str]) -> PathBuf {
    let (id, url) = emu.export_url("sample");
    let o = tool("d1-fetch")
        .args(["-q", "-o"])
        .arg(format!("{}/", dir.display()))
        .args(extra)
        .stdin(format!("{id} sample {url}\n"))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let path = o.stdout.trim().rsplit(' ').next().unwrap().to_string();
    PathBuf::from(path)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn our_encryption_is_read_by_the_age_cli_byte_identical_for_x25519_and_ssh_keys() {
    let emu = Emulator::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let (age_key, age_pub) = age_keygen(keys.path());
    let (ssh_key, ssh_pub) = ssh_keygen(keys.path());
    let clear = tempfile::tempdir().unwrap();
    let plain = std::fs::read(fetch(&emu, clear.path(), &["--zstd"])).unwrap();

    for (key, recipient) in [(&age_key, &age_pub), (&ssh_key, &ssh_pub)] {
        let dir = tempfile::tempdir().unwrap();
        let dump = fetch(&emu, dir.path(), &["--zstd", "--encrypt-to", recipient]);
        assert!(dump.to_string_lossy().ends_with(".sql.zst.age"), "{dump:?}");
        let stored = std::fs::read(&dump).unwrap();
        assert!(stored.starts_with(b"age-encryption.org/v1\n"));
        let decrypted = checked(Command::new("age").arg("-d").arg("-i").arg(key).arg(&dump));
        assert_eq!(decrypted, plain, "age -d gives the bytes of a clear fetch");

        let m = manifest(&dump);
        assert_eq!(m["encryption"]["format"], "age");
        let expected_key = if recipient.starts_with("ssh-") {
            // The comment is not part of the key.
            recipient.rsplit_once(' ').unwrap().0.to_string()
        } else {
            recipient.to_string()
        };
        assert_eq!(
            m["encryption"]["recipients"],
            serde_json::json!([expected_key])
        );
        assert_eq!(m["sha256"], sha256(&stored), "sha256 is the ciphertext's");
        assert_eq!(m["stored_bytes"], stored.len() as u64);
        assert_eq!(m["plaintext_sha256"], sha256(&plain));
        let side = std::fs::read_to_string(format!("{}.sha256", dump.display())).unwrap();
        assert!(side.starts_with(&sha256(&stored)), "{side}");
        // sha256sum -c from the folder checks the stored (encrypted) file.
        checked(
            Command::new("sha256sum")
                .arg("-c")
                .arg(format!("{}.sha256", dump.display()))
                .current_dir(dir.path()),
        );
    }
}

#[test]
fn files_the_age_cli_encrypts_are_read_byte_identical_and_verified() {
    let emu = Emulator::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let (age_key, age_pub) = age_keygen(keys.path());
    let (ssh_key, _) = ssh_keygen(keys.path());
    let dir = tempfile::tempdir().unwrap();
    let dump = fetch(&emu, dir.path(), &["--zstd"]);
    let plain = std::fs::read(&dump).unwrap();

    let by_age = dir.path().join("x25519.sql.zst.age");
    checked(
        Command::new("age")
            .args(["-r", &age_pub, "-o"])
            .arg(&by_age)
            .arg(&dump),
    );
    let by_ssh = dir.path().join("ssh.sql.zst.age");
    checked(
        Command::new("age")
            .arg("-R")
            .arg(keys.path().join("id_ed25519.pub"))
            .arg("-o")
            .arg(&by_ssh)
            .arg(&dump),
    );

    for (file, key) in [(&by_age, &age_key), (&by_ssh, &ssh_key)] {
        let ids = d1_age::Identities::read(key).unwrap();
        let mut out = Vec::new();
        ids.decrypt(std::fs::File::open(file).unwrap())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain, "{file:?}");
        let o = tool("d1-verify").arg("--identity").arg(key).arg(file).run();
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.starts_with("OK "), "{o:?}");
    }
}

#[test]
fn the_encrypted_pipeline_verifies_and_no_row_text_reaches_the_disk() {
    let emu = Emulator::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let (key, public) = age_keygen(work.path());
    let o = sh(
        &emu,
        work.path(),
        "d1-export-start sample | d1-export-wait | \
         d1-fetch --zstd --encrypt-to \"$(age-keygen -y key.txt)\" -o b/ | \
         d1-verify --identity key.txt",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("OK "), "{o:?}");
    let b = work.path().join("b");
    let names = files_in(&b);
    assert_eq!(names.len(), 3, "{names:?}");
    let dump = b.join(names.iter().find(|n| n.ends_with(".age")).unwrap());
    let m = manifest(&dump);
    assert_eq!(m["verification"]["status"], "ok", "{m}");
    assert_eq!(m["verification"]["sha256"], m["sha256"]);
    assert_eq!(m["encryption"]["recipients"][0], public.as_str());
    let clear = tempfile::tempdir().unwrap();
    let plain_dump = fetch(&emu, clear.path(), &[]);
    assert!(String::from_utf8_lossy(&std::fs::read(plain_dump).unwrap()).contains(ROW_TEXT));
    for name in &names {
        let bytes = std::fs::read(b.join(name)).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(ROW_TEXT),
            "{name} holds row text"
        );
    }
    // Uncompressed and encrypted: the SQL is still nowhere in clear.
    let raw = tempfile::tempdir().unwrap();
    let dump = fetch(&emu, raw.path(), &["--encrypt-to", &public]);
    assert!(dump.to_string_lossy().ends_with(".sql.age"), "{dump:?}");
    assert!(!String::from_utf8_lossy(&std::fs::read(&dump).unwrap()).contains(ROW_TEXT));
    let o = tool("d1-verify")
        .arg("--identity")
        .arg(&key)
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn a_wrong_key_fails_with_exit_1_and_a_clear_line() {
    let emu = Emulator::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let (_, public) = age_keygen(keys.path());
    let other = tempfile::tempdir().unwrap();
    let (wrong, _) = age_keygen(other.path());
    let dir = tempfile::tempdir().unwrap();
    let dump = fetch(&emu, dir.path(), &["--encrypt-to", &public]);
    let target = dir.path().join("restored.sqlite");
    let o = tool("d1-verify")
        .arg("--identity")
        .arg(&wrong)
        .arg("--db")
        .arg(&target)
        .arg(&dump)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("no identity in"), "{o:?}");
    assert!(!target.exists());
    let secret = std::fs::read_to_string(&wrong).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET"))
        .unwrap();
    assert!(!o.stderr.contains(secret) && !o.stdout.contains(secret));
    // The age CLI agrees: this key cannot open it.
    let status = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&wrong)
        .arg(&dump)
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn truncated_or_altered_ciphertext_fails_with_exit_1_and_leaves_nothing_at_the_target() {
    let emu = Emulator::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = age_keygen(keys.path());
    let dir = tempfile::tempdir().unwrap();
    // Uncompressed: several 64 KiB chunks are not needed to see the end checked, but
    // the sample's SQL is bigger than the zstd file.
    let dump = fetch(&emu, dir.path(), &["--encrypt-to", &public]);
    let good = std::fs::read(&dump).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated by one byte", good[..good.len() - 1].to_vec()),
        (
            "truncated to its header",
            good[..good.len().min(200)].to_vec(),
        ),
        ("one byte flipped", {
            let mut b = good.clone();
            let i = b.len() - 100;
            b[i] ^= 0x01;
            b
        }),
    ];
    for (what, bytes) in cases {
        let case = tempfile::tempdir().unwrap();
        let file = case.path().join("x.sql.age");
        std::fs::write(&file, &bytes).unwrap();
        let target = case.path().join("restored.sqlite");
        let o = tool("d1-verify")
            .arg("--identity")
            .arg(&key)
            .arg("--db")
            .arg(&target)
            .arg(&file)
            .run();
        assert_eq!(o.code, 1, "{what}: {o:?}");
        assert!(
            o.stderr.contains("truncated") || o.stderr.contains("altered"),
            "{what}: {o:?}"
        );
        assert_eq!(
            o.stderr.trim().lines().count(),
            1,
            "{what}: one line: {o:?}"
        );
        assert!(!target.exists(), "{what}");
        assert_eq!(
            files_in(case.path()),
            vec!["x.sql.age"],
            "{what}: no leftovers"
        );
    }
    // With its sidecar the checksum catches it first, also exit 1.
    let mut b = good.clone();
    let i = b.len() / 2;
    b[i] ^= 0x80;
    std::fs::write(&dump, &b).unwrap();
    let o = tool("d1-verify")
        .arg("--identity")
        .arg(&key)
        .arg(&dump)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    // A manifest whose plaintext digest does not match what decrypts: exit 1.
    std::fs::write(&dump, &good).unwrap();
    let mpath = format!("{}.json", dump.display());
    let mut m = manifest(&dump);
    m["plaintext_sha256"] = serde_json::json!("00".repeat(32));
    std::fs::write(&mpath, m.to_string()).unwrap();
    let o = tool("d1-verify")
        .arg("--identity")
        .arg(&key)
        .arg(&dump)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("plaintext_sha256"), "{o:?}");
}

#[test]
fn a_missing_identity_is_exit_3() {
    let emu = Emulator::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let (_, public) = age_keygen(keys.path());
    let dir = tempfile::tempdir().unwrap();
    let dump = fetch(&emu, dir.path(), &["--zstd", "--encrypt-to", &public]);
    let o = tool("d1-verify")
        .arg("--identity")
        .arg(keys.path().join("nope.txt"))
        .arg(&dump)
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("nope.txt"), "{o:?}");
    let o = tool("d1-verify").arg(&dump).run();
    assert_eq!(o.code, 3, "an encrypted dump and no --identity: {o:?}");
    assert!(o.stderr.contains("--identity"), "{o:?}");
}

#[test]
fn recipients_come_from_a_file_in_the_age_cli_format_and_bad_ones_are_usage_errors() {
    let emu = Emulator::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = age_keygen(keys.path());
    let (ssh_key, ssh_pub) = ssh_keygen(keys.path());
    let list = keys.path().join("recipients.txt");
    std::fs::write(&list, format!("# ops\n{public}\n\n# laptop\n{ssh_pub}\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = fetch(
        &emu,
        dir.path(),
        &["--recipients-file", list.to_str().unwrap()],
    );
    assert_eq!(
        manifest(&dump)["encryption"]["recipients"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for k in [&key, &ssh_key] {
        checked(Command::new("age").arg("-d").arg("-i").arg(k).arg(&dump));
    }
    let secret = std::fs::read_to_string(&key).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET"))
        .unwrap();
    let (_, url) = emu.export_url("sample");
    for bad in [
        vec!["--encrypt-to", "age1nope"],
        vec!["--encrypt-to", secret],
    ] {
        let out = tempfile::tempdir().unwrap();
        let o = tool("d1-fetch")
            .args(&bad)
            .arg("-o")
            .arg(format!("{}/", out.path().display()))
            .arg(&url)
            .run();
        assert_eq!(o.code, 2, "{bad:?}: {o:?}");
        assert!(
            !o.stderr.contains(&secret[16..]),
            "the key is never printed: {o:?}"
        );
        assert!(files_in(out.path()).is_empty());
    }
    let o = tool("d1-fetch")
        .args(["--encrypt-to", &public, "-o"])
        .arg(dir.path().join("plain.sql"))
        .arg(&url)
        .run();
    assert_eq!(o.code, 2, "a named file must end in .age: {o:?}");
}

#[test]
fn d1_import_refuses_an_encrypted_dump_with_exit_2_saying_to_decrypt_it_first() {
    let emu = Emulator::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let (_, public) = age_keygen(keys.path());
    let dir = tempfile::tempdir().unwrap();
    let dump = fetch(&emu, dir.path(), &["--zstd", "--encrypt-to", &public]);
    let imports = emu.requests("import");
    let o = tool("d1-import")
        .env_from(&emu)
        .args(["--database", "sample"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("age-encrypted dump"), "{o:?}");
    assert_eq!(emu.requests("import"), imports, "nothing was sent to D1");
}
