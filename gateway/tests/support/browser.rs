//! A headless Chromium driven through Debian's chromedriver, for the console's browser tests:
//! navigation, forms, and `check_page` (axe-core, a phone's width, a screenshot kept under
//! target/console-screenshots/ per page).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Its WebDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// A phone's viewport (CSS pixels): every page must fit its width.
pub const PHONE: (u32, u32) = (390, 844);

/// A headless Chromium driven through chromedriver on its own 127.0.0.1 port.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// The gateway's base URL.
    pub gateway: String,
    shots: PathBuf,
    axe: String,
    _driver: tokio::process::Child,
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Browser {
    pub async fn start(gateway: &str) -> Self {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: the console's browser tests need Debian's Chromium and its \
                 driver; install them with `apt-get install -y chromium chromium-driver` (.ci/run does)"
            );
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let axe_file = root.join("console/node_modules/axe-core/axe.min.js");
        let axe = std::fs::read_to_string(&axe_file).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): run `npm ci --prefix console` once",
                axe_file.display()
            )
        });
        let shots = root.join("target/console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                // No sandbox: CI runs as root, where Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={},{}", PHONE.0, PHONE.1)]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        // chromedriver takes a moment to listen; a bounded wait, not a timing assertion.
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        gateway: gateway.to_owned(),
                        shots,
                        axe,
                        _driver: driver,
                    };
                }
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("chromedriver did not start a Chromium session: {last:?}");
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.gateway))
            .await
            .expect("goto");
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("source")
    }

    pub async fn h1(&self) -> String {
        self.client
            .find(Locator::Css("h1"))
            .await
            .expect("an h1")
            .text()
            .await
            .expect("text")
    }

    pub async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Chooses the option whose value is `value` in the `select` with id `id`.
    pub async fn choose(&self, id: &str, value: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("#{id} = {value}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Clicks a link or a form's button and waits for the next page to load (WebDriver's click
    /// may answer before the navigation it starts has replaced the document).
    pub async fn click_through(&self, css: &str) {
        self.client
            .execute("window.signpostPreviousPage = true;", vec![])
            .await
            .expect("mark the page");
        self.click(css).await;
        for _ in 0..200 {
            let loaded = self
                .client
                .execute(
                    "return window.signpostPreviousPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .unwrap_or(json!(false));
            if loaded == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} did not load another page");
    }

    pub async fn value_of(&self, id: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .expect("field")
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// The page as a person meets it: axe-core finds no WCAG 2.2 A/AA violation, nothing is
    /// wider than a phone, and its screenshot is kept as `name.png`.
    pub async fn check_page(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
        // WebDriver's script execution is not subject to the page's CSP (which forbids scripts):
        // the check below fails loudly if axe could not be injected.
        self.client
            .execute(&format!("{}\nreturn typeof axe;", self.axe), vec![])
            .await
            .expect("inject axe-core");
        let violations = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 if (typeof axe === 'undefined') { done('axe-core was not injected'); return; }
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
                   .then(r => done(r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.html)}))),
                         e => done(String(e)));",
                vec![],
            )
            .await
            .expect("run axe-core");
        assert_eq!(
            violations,
            json!([]),
            "axe-core found accessibility problems on the {name} page"
        );
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .expect("width");
        assert!(
            overflow.as_i64().is_some_and(|px| px <= 0),
            "the {name} page is {overflow}px wider than a {}px phone screen",
            PHONE.0
        );
    }

    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/console/sign-in").await;
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.click_through("form[action='/console/sign-in'] button")
            .await;
    }

    pub async fn sign_out(&self) {
        self.click_through("form[action='/console/sign-out'] button")
            .await;
        assert_eq!(self.path().await, "/console/sign-in");
    }
}
