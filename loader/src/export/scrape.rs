//! One scrape: the pin opened again (so a reload or a replaced map is followed), the
//! counters read with one batch lookup into buffers kept from scrape to scrape, the XDP
//! program on each interface, and the text rendered; or, when the pin is missing or not
//! a stats map, the sentence that says so, for a 503.

use std::path::PathBuf;
use std::time::Instant;

use crate::attach::status::attached;
use crate::stats::error::StatsError;
use crate::stats::find::resolve_pin;
use crate::stats::prometheus::{render, Format, ProgramInfo, Scrape};
use crate::stats::read::{open_map, possible_cpus, read_sample_with, Cpus, ReadBuffers};

/// Which pin to read, as statswatch's flags say it: resolved again at every scrape, so
/// that `-m NAME` finds a map pinned after the exporter started.
#[derive(Debug, Clone, Default)]
pub struct PinChoice {
    pub file: Option<PathBuf>,
    pub map: Option<String>,
    pub pin_path: Option<PathBuf>,
}

/// Whether the last scrape could read the map, to say so only when that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Unknown,
    Reading(PathBuf),
    Failing(String),
}

/// What a scrape produced: the metrics, or why there are none.
pub enum Scraped<'a> {
    Metrics(&'a str),
    Unavailable(&'a str),
}

/// Everything one scrape needs, kept between scrapes: nothing here grows after the first.
pub struct Scraper {
    choice: PinChoice,
    cpus: Cpus,
    percpu: bool,
    buffers: ReadBuffers,
    programs: Vec<ProgramInfo>,
    text: String,
    problem: String,
    health: Health,
    notice: Option<String>,
}

impl Scraper {
    pub fn new(choice: PinChoice, percpu: bool) -> Result<Scraper, StatsError> {
        Ok(Scraper {
            choice,
            cpus: possible_cpus()?,
            percpu,
            buffers: ReadBuffers::default(),
            programs: Vec::new(),
            text: String::new(),
            problem: String::new(),
            health: Health::Unknown,
            notice: None,
        })
    }

    /// Reads the map and the interfaces and renders them in `format`.
    pub fn scrape(&mut self, format: Format) -> Scraped<'_> {
        let start = Instant::now();
        let read = resolve_pin(
            self.choice.file.as_deref(),
            self.choice.map.as_deref(),
            self.choice.pin_path.as_deref(),
        )
        .and_then(|pin| {
            let (map, info) = open_map(&pin)?;
            let sample = read_sample_with(&mut self.buffers, &map, &info, &self.cpus, &pin, 0.0)?;
            Ok((pin, sample))
        });
        let (pin, sample) = match read {
            Ok(read) => read,
            Err(error) => {
                self.problem.clear();
                self.problem.push_str(&error.to_string());
                let health = Health::Failing(self.problem.clone());
                if health != self.health {
                    self.notice = Some(format!(
                        "{}; /metrics answers 503 until that is put right",
                        self.problem
                    ));
                    self.health = health;
                }
                return Scraped::Unavailable(&self.problem);
            }
        };
        self.read_programs();
        let percpu = self.percpu.then_some(self.cpus.ids.as_slice());
        let scrape = Scrape {
            sample: &sample,
            percpu,
            programs: &self.programs,
            duration: start.elapsed().as_secs_f64(),
        };
        render(&scrape, format, &mut self.text);
        if matches!(self.health, Health::Failing(_)) {
            self.notice = Some(format!(
                "reading map {} at {} again; /metrics answers 200",
                sample.map_name,
                pin.display()
            ));
        }
        self.health = Health::Reading(pin);
        Scraped::Metrics(&self.text)
    }

    /// What changed with the last scrape, to be said once: the map went missing or wrong,
    /// or can be read again.
    pub fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    /// The XDP program on each interface of this network namespace, as `xdploader
    /// -status` finds it. An interface that goes away meanwhile is left out.
    fn read_programs(&mut self) {
        self.programs.clear();
        let Ok(interfaces) = sys::iface::interfaces() else {
            return;
        };
        for (ifname, ifindex) in interfaces {
            if let Ok(Some(program)) = attached(&ifname, ifindex) {
                self.programs.push(ProgramInfo {
                    ifname,
                    prog_id: program.prog_id,
                    prog_name: program.name,
                    mode: program
                        .mode
                        .ip_link_keyword()
                        .trim_start_matches("xdp")
                        .to_string(),
                });
            }
        }
    }
}
