//! The engine's progress reports as an indicatif bar on standard error (hidden when standard
//! error is not a terminal).

use fastcausal_engine::progress::{Progress, Unit};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    pub fn new() -> Self {
        Bar { bar: Mutex::new(None) }
    }
}

impl Progress for Bar {
    fn begin(&self, message: &str, total: Option<u64>, unit: Unit) {
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        let template = match (total.is_some(), unit) {
            (true, Unit::Bytes) => "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            (true, Unit::Rows) => "{msg:>10} [{bar:30}] {human_pos}/{human_len} rows eta {eta}",
            (false, _) => "{msg:>10} {spinner} {human_pos} rows {elapsed}",
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar.set_message(message.to_string());
        if let Some(old) = self.bar.lock().expect("progress lock").replace(bar) {
            old.finish_and_clear();
        }
    }
    fn advance(&self, delta: u64) {
        if let Some(b) = self.bar.lock().expect("progress lock").as_ref() {
            b.inc(delta);
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("progress lock").take() {
            b.finish_and_clear();
        }
    }
}
