//! The `signpost` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use signpost_conformance::keys::{ClientKey, KeyAlgorithm};
use signpost_conformance::kit;
use signpost_conformance::smart::request_token;
use signpost_gateway::config::Config;
use signpost_gateway::sandbox;
use signpost_gateway::server::Gateway;
use signpost_gateway::telemetry::LogFormat;
use signpost_gateway::validate_files::{Format, validate_files};
use signpost_profiles::Validator;

/// A request allocates and frees many small values (parsed JSON, validation paths, SQL binds)
/// across threads; glibc's allocator spent about a quarter of the request threads' time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "signpost",
    version,
    about = "FHIR R4 gateway for social prescribing referrals"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway; with no config, the sandbox.
    Serve {
        /// TOML config file.
        #[arg(long, env = "SIGNPOST_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load and check a config file, printing every problem with its path.
    CheckConfig {
        /// TOML config file.
        file: PathBuf,
    },
    /// Write a client key pair (ID.pem, keep secret) and the JWKS to register (ID.jwks.json).
    Keygen {
        /// Client id.
        #[arg(long)]
        client: String,
        /// Signature algorithm.
        #[arg(long, value_enum, default_value = "es384")]
        alg: Alg,
        /// Directory to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Validate resources or Bundles against the Signpost profiles; exit 1 on any error.
    ///
    /// With several files, stderr shows which one is being checked ("[3/120] path"). The run
    /// ends with one summary line, e.g. "3 files: 2 with errors (5 errors), 4 warnings": the
    /// last line of stdout with --format text, and on stderr with --format json, so that
    /// stdout stays one JSON document per file.
    Validate {
        /// JSON files, each a resource or a Bundle.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output: an OperationOutcome per file (summary on stderr), or a table (summary last).
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Extra StructureDefinitions, ValueSets and CodeSystems to use besides the shipped ones.
        #[arg(long)]
        profiles: Option<PathBuf>,
    },
    /// Test another organisation's system: a gateway, a link-worker platform or a VCS provider.
    Conformance(Box<ConformanceArgs>),
    /// GET a URL and exit 0 on a 2xx answer: for container health checks (the image has no curl).
    Probe {
        /// e.g. http://127.0.0.1:8080/readyz
        url: String,
    },
    /// The sandbox's own tools.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// The service directory.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// The web console's people.
    #[command(subcommand)]
    User(UserCommand),
    /// Get an access token (SMART Backend Services) and print it.
    Token {
        /// Client id.
        #[arg(long)]
        client: String,
        /// The client's private key (PEM, as written by keygen).
        #[arg(long)]
        key: PathBuf,
        /// Scopes to ask for, space-separated.
        #[arg(long, default_value = "system/*.rs")]
        scope: String,
        /// The gateway's token endpoint.
        #[arg(long, default_value = "http://127.0.0.1:8080/auth/token")]
        token_url: String,
    },
}

/// `signpost sandbox ...`.
#[derive(Subcommand)]
enum SandboxCommand {
    /// Walk the whole referral journey against the running sandbox (start `signpost serve`
    /// first, in this directory), printing every request and answer: the same steps as the
    /// guide the sandbox prints.
    Tour,
    /// Write a generated demo population (referrals over the past year from every configured
    /// practice, with outcomes and onward referrals; nobody real) into the store, so reports
    /// and charts have something to show.
    DemoPopulation {
        /// How many referrals.
        #[arg(long, default_value_t = 500)]
        referrals: u64,
        /// The generator's seed: the same seed gives the same population.
        #[arg(long, default_value_t = 26)]
        seed: u64,
        /// TOML config file; the sandbox's when absent (run it where `signpost serve` made
        /// signpost-data/).
        #[arg(long, env = "SIGNPOST_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// `signpost user ...`.
#[derive(Subcommand)]
enum UserCommand {
    /// Add a console account and print its invitation link (shown once; it expires in 7 days).
    Add {
        /// ODS code of the organisation the person acts for.
        #[arg(long)]
        organisation: String,
        /// Their part: vcs, link-worker or operator.
        #[arg(long)]
        role: String,
        /// Their name, as audited.
        #[arg(long)]
        name: String,
        /// Their email: what they sign in with.
        #[arg(long)]
        email: String,
        /// The console's address, for the link.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
        /// TOML config file naming the store.
        #[arg(long, env = "SIGNPOST_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// `signpost directory ...`.
#[derive(Subcommand)]
enum DirectoryCommand {
    /// Import an Open Referral UK feed (v1 or 3.0, by its base URL) or a JSON file of ORUK
    /// services into the directory, printing the feed quality report (JSON) on stdout; exit 1
    /// if any record was skipped.
    Import {
        /// The feed's base URL (http:// or https://) or a JSON file.
        source: String,
        /// TOML config file naming the store.
        #[arg(long, env = "SIGNPOST_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// `signpost conformance` options.
#[derive(clap::Args)]
struct ConformanceArgs {
    /// The system under test: a FHIR base URL, or (webhook adapter) the partner's webhook URL.
    #[arg(long)]
    target: String,
    /// Which side the target is; the kit plays the others.
    #[arg(long, value_enum)]
    role: KitRole,
    /// Gateway role: the GP system's client id (with --key), instead of the sandbox's.
    #[arg(long, requires = "key")]
    client_id: Option<String>,
    /// Gateway role: the GP system's private key (PEM).
    #[arg(long, requires = "client_id")]
    key: Option<PathBuf>,
    /// Gateway role: a TOML file naming the [gp], [link_worker] and [vcs] clients (client_id, ods, key).
    #[arg(long)]
    parties: Option<PathBuf>,
    /// Gateway role: where the sandbox wrote its demo clients' keys.
    #[arg(long, default_value = "signpost-data/keys")]
    sandbox_keys: PathBuf,
    /// Partner roles: how the kit delivers Tasks.
    #[arg(long, default_value = signpost_adapters::fhir_rest::KIND, value_parser = clap::builder::PossibleValuesParser::new(signpost_adapters::known_kinds()))]
    adapter: String,
    /// Partner roles: the partner's ODS code (default LWS001 or VCS001).
    #[arg(long)]
    partner_ods: Option<String>,
    /// Partner roles: the shared Standard Webhooks secret (whsec_...).
    #[arg(long, env = "SIGNPOST_KIT_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,
    /// Partner roles, bars adapter: the receiver's service identifier.
    #[arg(long, default_value = "signpost-conformance")]
    target_identifier: String,
    /// Partner roles: listen here for the partner's status reports and check them (e.g. 127.0.0.1:9400).
    #[arg(long)]
    status_back: Option<String>,
    /// Partner roles: seconds to wait for a status report.
    #[arg(long, default_value_t = 30)]
    status_timeout: u64,
    /// Write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a self-contained HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Run only checks whose id matches (comma-separated; * matches anything).
    #[arg(long)]
    only: Option<String>,
}

/// The side `conformance` tests.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KitRole {
    Gateway,
    LinkWorker,
    Vcs,
}

/// Key algorithms `keygen` can make.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Alg {
    Es384,
    Rs384,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                println!(
                    "{}: OK ({} organisations, {} clients, {} routes)",
                    file.display(),
                    config.organisations.len(),
                    config.clients.len(),
                    config.routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                let count = errors.0.len();
                eprintln!(
                    "{}: {count} configuration error{}:\n{errors}",
                    file.display(),
                    if count == 1 { "" } else { "s" }
                );
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => serve(config),
        Command::Keygen { client, alg, out } => {
            let algorithm = match alg {
                Alg::Es384 => KeyAlgorithm::Es384,
                Alg::Rs384 => KeyAlgorithm::Rs384,
            };
            if out.join(format!("{client}.pem")).exists() {
                eprintln!(
                    "{} already exists; not overwriting a key",
                    out.join(format!("{client}.pem")).display()
                );
                return ExitCode::FAILURE;
            }
            match signpost_gateway::keygen::write_client_key(&out, &client, algorithm) {
                Ok((private, public)) => {
                    println!(
                        "wrote {} (private: keep it secret) and {} (public: register it)\n\n\
                         [[client]]\nid = \"{client}\"\norganisation = \"<ODS code>\"\njwks = \"{}\"\nscopes = [\"system/Task.rs\"]",
                        private.display(),
                        public.display(),
                        public.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("keygen: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Probe { url } => probe(&url),
        Command::Directory(DirectoryCommand::Import { source, config }) => {
            directory_import(&source, config)
        }
        Command::Sandbox(SandboxCommand::Tour) => tour(),
        Command::Sandbox(SandboxCommand::DemoPopulation {
            referrals,
            seed,
            config,
        }) => demo_population(referrals, seed, config),
        Command::User(UserCommand::Add {
            organisation,
            role,
            name,
            email,
            base_url,
            config,
        }) => user_add(&organisation, &role, &name, &email, &base_url, config),
        Command::Conformance(args) => {
            let ConformanceArgs {
                target,
                role,
                client_id,
                key,
                parties,
                sandbox_keys,
                adapter,
                partner_ods,
                webhook_secret,
                target_identifier,
                status_back,
                status_timeout,
                junit,
                html,
                only,
            } = *args;
            let options = kit::Options {
                target,
                role: match role {
                    KitRole::Gateway => kit::Role::Gateway,
                    KitRole::LinkWorker => kit::Role::LinkWorker,
                    KitRole::Vcs => kit::Role::Vcs,
                },
                only,
                parties,
                sandbox_keys,
                client: client_id.zip(key),
                adapter,
                partner_ods,
                webhook_secret,
                target_identifier,
                status_back,
                status_timeout: std::time::Duration::from_secs(status_timeout),
            };
            conformance(&options, junit.as_deref(), html.as_deref())
        }
        Command::Validate {
            files,
            format,
            profiles,
        } => validate(&files, format, profiles.as_deref()),
        Command::Token {
            client,
            key,
            scope,
            token_url,
        } => token(&client, &key, &scope, &token_url),
    }
}

fn conformance(
    options: &kit::Options,
    junit: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let findings = match runtime.block_on(kit::run(options)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let role = options.role.name();
    println!("{}", kit::report::summary(&options.target, role, &findings));
    let writes = [
        (junit, kit::report::junit(role, &findings)),
        (html, kit::report::html(&options.target, role, &findings)),
    ];
    for (path, content) in writes {
        if let Some(path) = path
            && let Err(e) = std::fs::write(path, content)
        {
            eprintln!("conformance: writing {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if findings.iter().any(|f| f.failed()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn validate(files: &[PathBuf], format: Format, profiles: Option<&std::path::Path>) -> ExitCode {
    // Leaked: the validator lives as long as this short-lived command.
    let loaded = match profiles {
        None => Validator::standard(),
        Some(dir) => Validator::with_dir(dir).map(|v| &*Box::leak(Box::new(v))),
    };
    let validator = match loaded {
        Ok(v) => v,
        Err(e) => {
            eprintln!("validate: {e}");
            return ExitCode::from(2);
        }
    };
    let mut progress = signpost_gateway::validate_files::Progress::stderr(files.len());
    let report = validate_files(validator, files, format, &mut |n, path| {
        progress.file(n, path);
    });
    progress.finish();
    match format {
        Format::Json => {
            println!("{}", report.body);
            eprintln!("{}", report.summary);
        }
        Format::Text => println!("{}\n{}", report.body, report.summary),
    }
    if report.summary.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn probe(url: &str) -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let answer = runtime.block_on(async {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .build()?
            .get(url)
            .send()
            .await
    });
    match answer {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("probe: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("probe: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn token(client: &str, key: &std::path::Path, scope: &str, token_url: &str) -> ExitCode {
    let key = match std::fs::read_to_string(key)
        .map_err(|e| e.to_string())
        .and_then(|pem| ClientKey::from_pem(&pem).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("token: cannot use {}: {e}", key.display());
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("token: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(request_token(
        &reqwest::Client::new(),
        token_url,
        client,
        &key,
        scope,
    )) {
        Ok(t) => {
            println!("{}", t.access_token);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("token: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tour() -> ExitCode {
    let config = match sandbox::config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "tour: the sandbox's configuration cannot be read here: {e}\n\
                 Run the tour in the directory where `signpost serve` created {}/.",
                sandbox::DATA_DIR
            );
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tour: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Where the sandbox started in this directory said it listens; else where it would.
    let base = sandbox::noted_url().unwrap_or_else(|| config.server.base_url.clone());
    match runtime.block_on(sandbox::tour::run(
        &config,
        &base,
        std::path::Path::new(sandbox::DATA_DIR),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tour: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config_file: Option<PathBuf>) -> ExitCode {
    let sandbox = config_file.is_none();
    if sandbox && let Err(e) = sandbox::prepare_files() {
        eprintln!(
            "cannot prepare the sandbox's files in {}: {e:#}",
            sandbox::DATA_DIR
        );
        return ExitCode::FAILURE;
    }
    let config = match &config_file {
        Some(file) => Config::load(file)
            .map_err(|e| format!("{}: configuration errors:\n{e}", file.display())),
        None => sandbox::config().map_err(|e| format!("sandbox configuration errors:\n{e}")),
    };
    let config = match config {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    // Readable lines in the sandbox, JSON lines anywhere else; SIGNPOST_LOG_FORMAT=json|text overrides.
    let format = match std::env::var("SIGNPOST_LOG_FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        Ok("text") => LogFormat::Text,
        _ if sandbox => LogFormat::Text,
        _ => LogFormat::Json,
    };
    let otlp = config
        .telemetry
        .otlp_endpoint
        .clone()
        .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok());
    let provider = match signpost_gateway::telemetry::traces::provider(otlp.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot set up trace export to {otlp:?}: {e}");
            return ExitCode::FAILURE;
        }
    };
    signpost_gateway::telemetry::init(format, &provider);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "signpost".into());
        let demo_accounts = if sandbox {
            sandbox::accounts::prepare(std::path::Path::new(sandbox::DATA_DIR))?
        } else {
            Vec::new()
        };
        let guide = sandbox.then(|| sandbox::guide::guide(&config, &exe, &demo_accounts));
        let demo_partners = sandbox.then(|| sandbox::demo_partner::router(&config));
        let mut gateway = Gateway::start(config).await?;
        if let Some(routes) = demo_partners {
            gateway = gateway.with_routes(routes);
            sandbox::directory::seed(gateway.state.store.as_ref()).await?;
            sandbox::accounts::seed(gateway.state.store.as_ref(), &demo_accounts).await?;
            if let Err(e) = sandbox::note_url(&gateway.state.config) {
                tracing::warn!(error = %e, "cannot note the sandbox's address for the tour");
            }
        }
        tracing::info!(listen = %gateway.local_addr()?, "signpost listening");
        if let Some(guide) = guide {
            // One write, and a closed stdout (piped into `head`, say) is no reason to stop serving.
            let mut out = std::io::stdout().lock();
            let _ = std::io::Write::write_all(&mut out, guide.as_bytes())
                .and_then(|()| std::io::Write::flush(&mut out));
        }
        gateway.run().await
    });
    // Outside the runtime: the OTLP exporter flushes with a blocking client.
    let _ = provider.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signpost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `signpost directory import`: the sandbox's store unless a config names one.
fn user_add(
    organisation: &str,
    role: &str,
    name: &str,
    email: &str,
    base_url: &str,
    config: Option<PathBuf>,
) -> ExitCode {
    use signpost_gateway::console::account::{ConsoleRole, add_account};
    let Some(role) = ConsoleRole::parse(role) else {
        eprintln!("--role {role:?} is not one of vcs, link-worker, operator");
        return ExitCode::FAILURE;
    };
    let organisation = match signpost_profiles::OdsCode::parse(organisation) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("--organisation {organisation:?}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match config {
        Some(path) => Config::load(&path).map_err(|e| format!("{e:#}")),
        None => sandbox::config().map_err(|e| format!("{e:#}")),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if !config.organisations.iter().any(|o| o.ods == organisation) {
        eprintln!("--organisation {organisation} is not an organisation in the configuration");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let store = match signpost_gateway::server::open_store(&config.store.url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot open the store: {e}");
                return ExitCode::FAILURE;
            }
        };
        match add_account(store.as_ref(), &organisation, role, name, email).await {
            Ok(token) => {
                println!(
                    "Invitation for {name} (shown once, valid 7 days): {}/console/invitation/{token}",
                    base_url.trim_end_matches('/')
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// For the commands that work on a store directly: the config (the sandbox's unless a file is
/// given), a runtime, and the store the config names; what went wrong is printed if not.
fn config_and_store(
    config: Option<PathBuf>,
) -> Result<
    (
        Config,
        tokio::runtime::Runtime,
        std::sync::Arc<dyn signpost_gateway::store::Store>,
    ),
    ExitCode,
> {
    let config = config
        .map_or_else(sandbox::config, |path| Config::load(&path))
        .map_err(|e| {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        })?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("cannot start: {e}");
        ExitCode::FAILURE
    })?;
    let store = runtime
        .block_on(signpost_gateway::server::open_store(&config.store.url))
        .map_err(|e| {
            eprintln!("cannot open the store: {e}");
            ExitCode::FAILURE
        })?;
    Ok((config, runtime, store))
}

fn demo_population(referrals: u64, seed: u64, config: Option<PathBuf>) -> ExitCode {
    let (config, runtime, store) = match config_and_store(config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    runtime.block_on(async {
        match sandbox::demo_population::load(store.as_ref(), &config, referrals, seed).await {
            Ok(n) => {
                println!(
                    "wrote {n} demo referrals (ids demo-...) to {}",
                    config.store.url
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("demo population: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn directory_import(source: &str, config: Option<PathBuf>) -> ExitCode {
    let (_config, runtime, store) = match config_and_store(config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    runtime.block_on(async {
        match signpost_gateway::workflow::import_directory::import_feed(store.as_ref(), source)
            .await
        {
            Ok(report) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
                eprintln!("{}", report.summary());
                if report.problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}
