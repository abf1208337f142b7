//! The web console in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`; `make test` installs them when missing). The page asks
//! the local stack for a report the way a person would, and what it shows is checked against
//! what the same request returns over a plain WebSocket.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use stocks_local::{AuthMode, LocalConfig};
use stocks_testkit::Stack;
use stocks_testkit::stack::fast_config;
use stocks_testkit::ws::{connect, next_text, send};

const MSFT_OCTOBER: &str = r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#;
const FIELDS: [&str; 5] = ["avgStock", "minStock", "maxStock", "minVolume", "maxVolume"];
const PATIENCE: Duration = Duration::from_secs(20);

/// A chromedriver process on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(path.into());
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Starts chromedriver and opens a headless Chromium session; fails (never skips) when either
/// is missing.
async fn browser() -> (Driver, Client) {
    const MISSING: &str = "the console test needs headless Chromium and its WebDriver: \
                           `apt-get install chromium chromium-driver` (make test installs them), \
                           or set CHROMEDRIVER and CHROMIUM to their paths";
    let driver = installed("chromedriver", "CHROMEDRIVER").unwrap_or_else(|| panic!("no chromedriver: {MISSING}"));
    let chromium = installed("chromium", "CHROMIUM").unwrap_or_else(|| panic!("no chromium: {MISSING}"));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}; {MISSING}", driver.display()));
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };

    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--no-first-run", "--force-device-scale-factor=1",
                "--window-size=1200,1300",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    });
    let capabilities = capabilities.as_object().unwrap().clone();
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => break client,
            // chromedriver takes a moment to listen.
            Err(_) if started.elapsed() < PATIENCE => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!(
                "no browser session from {} after {PATIENCE:?}: {e}; {MISSING}",
                driver.url
            ),
        }
    };
    (driver, client)
}

/// The raw text of `"field": <number>` in a frame: the number exactly as the server wrote it.
fn raw_number<'a>(frame: &'a str, field: &str) -> &'a str {
    let key = format!("\"{field}\":");
    let start = frame.find(&key).unwrap_or_else(|| panic!("no {field} in {frame}")) + key.len();
    let rest = &frame[start..];
    rest[..rest.find([',', '}']).unwrap()].trim()
}

async fn fill(client: &Client, testid: &str, text: &str) {
    let input = client
        .find(Locator::Css(&format!("[data-testid={testid}]")))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn press_send(client: &Client) {
    let send = client.find(Locator::Css("[data-testid=send]")).await.unwrap();
    send.click().await.unwrap();
}

async fn shown(client: &Client, testid: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&format!("[data-testid={testid}]:not([hidden])")))
        .await
        .unwrap_or_else(|e| panic!("[data-testid={testid}] never appeared: {e}"))
}

/// `target/console/`, beside the build.
fn artefacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_console_shows_the_report_the_api_sends_and_says_what_is_wrong() {
    let stack = Stack::start(LocalConfig {
        auth: AuthMode::Tokens,
        ..fast_config()
    })
    .await;
    let token = stack.create_token("console", 60).await;

    // The same request over a plain WebSocket: what the card must show.
    let mut ws = connect(&format!("{}?token={token}", stack.ws_url())).await;
    send(&mut ws, MSFT_OCTOBER).await;
    let _ack = next_text(&mut ws).await;
    let frame = next_text(&mut ws).await;
    let plain: serde_json::Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(plain["statusCode"], 200, "{frame}");

    let (_driver, client) = browser().await;
    client.goto(&stack.http_url("/")).await.unwrap();
    let url = client.find(Locator::Css("[data-testid=url]")).await.unwrap();
    assert_eq!(
        url.prop("value").await.unwrap().as_deref(),
        Some(stack.ws_url().as_str()),
        "the URL defaults to this stack"
    );
    fill(&client, "token", &token).await;
    fill(&client, "ticker", "MSFT").await;
    fill(&client, "from", "2024-10-01").await;
    fill(&client, "to", "2024-10-31").await;
    press_send(&client).await;

    let card = shown(&client, "report").await;
    for field in FIELDS {
        let cell = card.find(Locator::Css(&format!("[data-field={field}]"))).await.unwrap();
        assert_eq!(
            cell.attr("data-value").await.unwrap().as_deref(),
            Some(raw_number(&frame, field)),
            "{field}: the number exactly as the server sent it"
        );
        assert!(!cell.text().await.unwrap().is_empty(), "{field} is shown");
    }
    let card_text = card.text().await.unwrap();
    assert!(
        card_text.contains("2024-10-01") && card_text.contains("2024-10-31"),
        "{card_text}"
    );
    let chart = shown(&client, "chart").await;
    assert_eq!(
        chart.attr("data-points").await.unwrap(),
        Some(plain["bars"].to_string()),
        "one point per daily bar"
    );
    // uPlot drew on its canvases: two charts, prices and volume.
    let canvases = chart.find_all(Locator::Css("canvas")).await.unwrap();
    assert_eq!(canvases.len(), 2);
    let status = client
        .find(Locator::Css("[data-testid=status]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.starts_with("Report received"), "{status}");
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(artefacts().join("console.png"), png).unwrap();

    // A bad ticker: the card goes, the API's sentence and code appear.
    let mut ws = connect(&format!("{}?token={token}", stack.ws_url())).await;
    send(&mut ws, r#"{"action":"stocksaction","ticker":"MS FT"}"#).await;
    let refusal: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert_eq!(refusal["error"], "INVALID_TICKER");
    fill(&client, "ticker", "MS FT").await;
    press_send(&client).await;
    let error = shown(&client, "error").await.text().await.unwrap();
    assert_eq!(
        error,
        format!("{} (INVALID_TICKER)", refusal["message"].as_str().unwrap()),
        "the sentence and the code"
    );
    let card_hidden = client
        .find(Locator::Css("[data-testid=report]"))
        .await
        .unwrap()
        .attr("hidden")
        .await
        .unwrap();
    assert!(card_hidden.is_some(), "the previous report is not left on screen");
    std::fs::write(
        artefacts().join("console-error.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client.close().await.unwrap();
}
