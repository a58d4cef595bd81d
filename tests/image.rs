//! The OCI image scripts/image writes: a valid layout (every digest and size checks out), the
//! config the chart relies on (numeric non-root user, entrypoint, labels), and the files (a
//! static binary that runs, a CA bundle, the user in /etc/passwd).
//!
//! The archive is $GRAPHORG_IMAGE_ARCHIVE, or scripts/image's default path; when it is missing
//! the test builds it (a release build: minutes), so it never skips.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn archive() -> PathBuf {
    if let Ok(p) = std::env::var("GRAPHORG_IMAGE_ARCHIVE") {
        return PathBuf::from(p);
    }
    let path = repo_root().join(format!(
        "target/image/graph-org-operator-{}.oci.tar",
        env!("CARGO_PKG_VERSION")
    ));
    if !path.exists() {
        let out = Command::new(repo_root().join("scripts/image"))
            .output()
            .expect("run scripts/image");
        assert!(
            out.status.success(),
            "scripts/image failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    path
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Read a blob and check that its name and the descriptor's size match its content.
fn blob(layout: &Path, descriptor: &serde_json::Value) -> Vec<u8> {
    let digest = descriptor["digest"].as_str().expect("descriptor digest");
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let data = std::fs::read(layout.join("blobs/sha256").join(hex)).expect("blob present");
    assert_eq!(
        sha256(&data),
        digest,
        "blob content does not match its digest"
    );
    assert_eq!(
        descriptor["size"].as_u64(),
        Some(data.len() as u64),
        "descriptor size of {digest}"
    );
    data
}

#[test]
fn the_image_is_a_valid_oci_layout_with_a_static_non_root_operator() {
    let archive = archive();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));

    let oci_layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(oci_layout["imageLayoutVersion"], "1.0.0");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().expect("index manifests");
    assert_eq!(manifests.len(), 1, "one image in the archive");
    let desc = &manifests[0];
    assert_eq!(
        desc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        desc["annotations"]["io.containerd.image.name"],
        format!(
            "ghcr.io/graph-org-operator/graph-org-operator:{}",
            env!("CARGO_PKG_VERSION")
        ),
        "named as the chart's default image (repository and appVersion)"
    );

    let manifest: serde_json::Value = serde_json::from_slice(&blob(&layout, desc)).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    let config: serde_json::Value =
        serde_json::from_slice(&blob(&layout, &manifest["config"])).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer_gz = blob(&layout, &layers[0]);

    // The config: what the chart's securityContext and args rely on.
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    let c = &config["config"];
    let user = c["User"].as_str().expect("a user");
    let (uid, gid) = user.split_once(':').expect("uid:gid");
    let uid: u32 = uid.parse().expect("a numeric uid (runAsNonRoot needs one)");
    let gid: u32 = gid.parse().expect("a numeric gid");
    assert!(uid != 0 && gid != 0, "non-root: {user}");
    assert_eq!(uid, 65532, "the uid the chart runs as");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/graph-org-operator"]));
    assert_eq!(c["Cmd"], serde_json::json!(["run"]));
    let labels = &c["Labels"];
    for key in [
        "title",
        "description",
        "version",
        "revision",
        "created",
        "source",
        "licenses",
    ] {
        let v = labels[format!("org.opencontainers.image.{key}")]
            .as_str()
            .unwrap_or_default();
        assert!(!v.is_empty(), "label org.opencontainers.image.{key} is set");
    }
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );

    // The layer: its uncompressed digest is the config's diff_id; then its files.
    let layer_path = dir.path().join("layer.tar.gz");
    std::fs::write(&layer_path, &layer_gz).unwrap();
    let layer_tar = run(Command::new("gzip").arg("-dc").arg(&layer_path));
    assert_eq!(
        config["rootfs"]["diff_ids"][0].as_str(),
        Some(sha256(&layer_tar).as_str()),
        "diff_id is the uncompressed layer's digest"
    );
    let listing = String::from_utf8(run(Command::new("tar")
        .args(["-tvf", "-", "--numeric-owner"])
        .stdin(std::fs::File::open(&layer_path).unwrap())
        .arg("-z")))
    .unwrap();
    for line in listing.lines() {
        assert!(
            line.split_whitespace().nth(1) == Some("0/0"),
            "every file owned by root (read-only for the user): {line}"
        );
    }
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&layer_path)
        .arg("-C")
        .arg(&rootfs));
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.split(':').nth(2) == Some(&uid.to_string())),
        "the image's user is in /etc/passwd: {passwd}"
    );
    let ca = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(
        ca.matches("BEGIN CERTIFICATE").count() > 50,
        "a CA bundle for Graph and login"
    );
    let bin = rootfs.join("graph-org-operator");
    let headers = String::from_utf8(run(Command::new("readelf").arg("-lW").arg(&bin))).unwrap();
    assert!(
        !headers.contains("program interpreter"),
        "statically linked (no loader in the image)"
    );
    let help = String::from_utf8(run(Command::new(&bin).arg("--help"))).unwrap();
    assert!(help.contains("run"), "the binary runs: {help}");
}
