//! `--web.config.file`: the collector over TLS with basic auth (bcrypt) and extra
//! headers, read by the shared source client and `meshscope query` with a CA file and
//! credentials; wrong credentials give one clear line.

use std::process::Stdio;
use std::time::Duration;

use meshscope_source::{Source, SourceError, SourceOptions};

use super::collect::{free_port, wait_for, Proc};
use super::meshscope;

#[test]
fn tls_and_basic_auth_protect_the_api_and_the_source_client_gets_through() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // A self-signed certificate for 127.0.0.1, its own CA.
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: '{hash}'\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("password"), "s3cret\n").unwrap();
    std::fs::write(dir.join("wrong"), "guess\n").unwrap();
    std::fs::write(
        dir.join("meshscope.yml"),
        "global:\n  scrape_interval: 15s\n",
    )
    .unwrap();
    let port = free_port();
    let p = meshscope()
        .args(["collect", "--config.file"])
        .arg(dir.join("meshscope.yml"))
        .arg("--storage.tsdb.path")
        .arg(dir.join("data"))
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--web.config.file")
        .arg(dir.join("web.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _p = Proc(p);
    let url = format!("https://127.0.0.1:{port}");
    let opts = |user: Option<&str>, pw: &str, ca: bool| SourceOptions {
        url: url.clone(),
        basic_auth_user: user.map(str::to_string),
        basic_auth_password_file: Some(dir.join(pw)),
        ca_file: ca.then(|| dir.join("cert.pem")),
        ..SourceOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let good = Source::new(&opts(Some("alice"), "password", true)).unwrap();
    wait_for("the collector over TLS", Duration::from_secs(30), || {
        rt.block_on(good.check()).is_ok()
    });
    let v = rt.block_on(good.instant("1 + 1", None)).unwrap();
    assert_eq!(v[0].2, 2.0);

    // Wrong password, unknown user, no credentials: 401, said plainly.
    for o in [
        opts(Some("alice"), "wrong", true),
        opts(Some("bob"), "password", true),
        opts(None, "password", true),
    ] {
        let e = rt.block_on(Source::new(&o).unwrap().check()).unwrap_err();
        assert!(
            matches!(e, SourceError::Unauthorized { status: 401, .. }),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!("{url} refused the credentials (HTTP 401): check the user and password or the token")
        );
    }
    // Without the CA the certificate is not trusted: one line naming the source.
    let e = rt
        .block_on(
            Source::new(&opts(Some("alice"), "password", false))
                .unwrap()
                .check(),
        )
        .unwrap_err();
    assert!(
        e.to_string().contains(&url) && e.to_string().contains("certificate"),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'));

    // /metrics and the admin endpoints are protected too; headers are added.
    let c = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = c.get(format!("{url}/metrics")).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic");
    let r = c.post(format!("{url}/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .get(format!("{url}/metrics"))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-frame-options"], "deny");
    // Plain HTTP to the TLS port does not get in.
    assert!(
        super::collect::get(&format!("http://127.0.0.1:{port}/metrics"))
            .is_none_or(|(code, _)| code != 200)
    );

    // meshscope query with the same flags; a wrong password exits 1 with one line.
    let q = |pw: &str| {
        meshscope()
            .args(["query", "--source", &url, "--source.ca-file"])
            .arg(dir.join("cert.pem"))
            .args([
                "--source.basic-auth-user",
                "alice",
                "--source.basic-auth-password-file",
            ])
            .arg(dir.join(pw))
            .arg("vector(42)")
            .output()
            .unwrap()
    };
    let out = q("password");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
    let out = q("wrong");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the credentials (HTTP 401)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_bad_web_config_stops_the_start_with_its_position() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("meshscope.yml"), "").unwrap();
    std::fs::write(
        d.path().join("web.yml"),
        "basic_auth_users:\n  alice: plaintext\n",
    )
    .unwrap();
    let out = meshscope()
        .args(["collect", "--config.file"])
        .arg(d.path().join("meshscope.yml"))
        .arg("--storage.tsdb.path")
        .arg(d.path().join("data"))
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--web.config.file")
        .arg(d.path().join("web.yml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("web.yml:2:") && err.contains("not a bcrypt hash"),
        "{err}"
    );
}
