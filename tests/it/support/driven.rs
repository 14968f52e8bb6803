//! A view (the live session's `App`, the replay) run on tandem's real event loop with a test
//! terminal and scripted input. The test owns the view, the terminal and the loop, and calls
//! the loop's two steps itself (`settle`: draw and carry out effects; `wait`: take the next
//! key, core event or highlight), looking at the view in between. Nothing of the loop is
//! re-implemented here: keys go through the terminal input stream, ops to the core, highlights
//! to the blocking pool and back, `$EDITOR` through the host.

use crossterm::event::Event as TermEvent;
use futures_util::FutureExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tandem::tui::clock::ManualTime;
use tandem::tui::keymap::key_string;
use tandem::tui::{Core, EventLoop, Host, Turn, View};

pub type TermSender = tokio::sync::mpsc::UnboundedSender<std::io::Result<TermEvent>>;

/// Terminal input for a loop: the sender, the stream the loop reads, and how many events it
/// has read so far.
pub fn counted_input() -> (TermSender, Box<tandem::tui::Input>, Arc<AtomicUsize>) {
    let (keys, keys_rx) = tokio::sync::mpsc::unbounded_channel();
    let read = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&read);
    let input = futures_util::StreamExt::inspect(
        tokio_stream::wrappers::UnboundedReceiverStream::new(keys_rx),
        move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        },
    );
    (keys, Box::new(input), read)
}

/// The terminal's side for a test: scripted input, and an editor that writes what it is told.
pub struct ScriptedHost {
    input: Box<tandem::tui::Input>,
    read: Arc<AtomicUsize>,
    /// What the editor writes into the file it is opened on; `None`: it changes nothing.
    pub editor_writes: Option<String>,
    /// The view's clock, moved on by the time the editor is open.
    pub time: Option<ManualTime>,
    pub editor_runs: usize,
}

impl Host for ScriptedHost {
    fn input(&mut self) -> &mut tandem::tui::Input {
        &mut self.input
    }

    fn run_editor(&mut self, path: &std::path::Path, _line: Option<u32>) -> Result<(), String> {
        self.editor_runs += 1;
        if let Some(text) = &self.editor_writes {
            std::fs::write(path, text).map_err(|e| e.to_string())?;
        }
        if let Some(t) = &self.time {
            t.advance(Duration::from_secs(20));
        }
        Ok(())
    }
}

/// The loop and its input, for a view and terminal the test owns.
pub struct Driven {
    pub lp: EventLoop,
    pub host: ScriptedHost,
    keys: TermSender,
    sent: usize,
    /// The loop quit (the view asked to).
    pub quit: bool,
}

impl Driven {
    /// A loop on `core` that never ticks by itself (tests move the clock).
    pub fn new(core: Core, time: Option<ManualTime>) -> Driven {
        let (keys, input, read) = counted_input();
        Driven {
            lp: EventLoop::new(core, Duration::from_secs(24 * 3600)),
            host: ScriptedHost {
                input,
                read,
                editor_writes: None,
                time,
                editor_runs: 0,
            },
            keys,
            sent: 0,
            quit: false,
        }
    }

    /// Draw what changed and carry out every effect waiting.
    pub fn settle<V: View>(&mut self, term: &mut Terminal<TestBackend>, view: &mut V) {
        if self.quit {
            return;
        }
        if self.lp.settle(term, view, &mut self.host).unwrap() == Turn::Quit {
            self.quit = true;
        }
    }

    async fn step<V: View>(&mut self, view: &mut V) {
        if self.lp.wait(view, &mut self.host).await.unwrap() == Turn::Quit {
            self.quit = true;
        }
    }

    /// Type `s` (key notation) into the terminal; return when the loop has handled every key
    /// and carried out what they asked for.
    pub async fn keys<V: View>(&mut self, term: &mut Terminal<TestBackend>, view: &mut V, s: &str) {
        let events = key_string(s).into_iter().map(TermEvent::Key).collect();
        self.input(term, view, events).await;
    }

    /// The terminal is now `width`×`height`, as a real one says it: a resize event.
    pub async fn resize<V: View>(
        &mut self,
        term: &mut Terminal<TestBackend>,
        view: &mut V,
        width: u16,
        height: u16,
    ) {
        term.backend_mut().resize(width, height);
        self.input(term, view, vec![TermEvent::Resize(width, height)])
            .await;
    }

    /// Send terminal events; return when the loop has handled them all.
    async fn input<V: View>(
        &mut self,
        term: &mut Terminal<TestBackend>,
        view: &mut V,
        events: Vec<TermEvent>,
    ) {
        for e in events {
            self.keys.send(Ok(e)).unwrap();
            self.sent += 1;
        }
        self.settle(term, view);
        // Keys come first in the loop: each wait takes the next one.
        while self.host.read.load(Ordering::SeqCst) < self.sent && !self.quit {
            self.step(view).await;
            self.settle(term, view);
        }
    }

    /// Run the loop until `done` holds (10 s at most), then take whatever else is already
    /// there (the diff right after a review opens, say). `screen` shows where it stood.
    pub async fn until<V: View>(
        &mut self,
        term: &mut Terminal<TestBackend>,
        view: &mut V,
        what: &str,
        done: impl Fn(&V) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            self.settle(term, view);
            if done(view) {
                break;
            }
            assert!(!self.quit, "the loop quit while waiting for {what}");
            if tokio::time::timeout_at(deadline, self.step(view))
                .await
                .is_err()
            {
                panic!("timed out waiting for {what}; screen:\n{}", text(term));
            }
        }
        while !self.quit {
            match self.lp.wait(view, &mut self.host).now_or_never() {
                Some(turn) => {
                    if turn.unwrap() == Turn::Quit {
                        self.quit = true;
                    }
                    self.settle(term, view);
                }
                None => break,
            }
        }
    }

    /// Draw, wait for the highlights of what is visible, and draw again: the screen as text.
    pub async fn screen<V: View>(
        &mut self,
        term: &mut Terminal<TestBackend>,
        view: &mut V,
    ) -> String {
        self.settle(term, view);
        while self.lp.highlighting() > 0 {
            tokio::time::timeout(Duration::from_secs(10), self.lp.highlights_back(view))
                .await
                .expect("highlights come back");
            self.settle(term, view);
        }
        text(term)
    }
}

/// The test terminal's cells as text, a line per row, trailing blanks cut.
pub fn text(term: &Terminal<TestBackend>) -> String {
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut x = 0;
        while x < buf.area.width {
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            // A wide character covers the next cell too: that cell is not text.
            x += unicode_width::UnicodeWidthStr::width(sym).max(1) as u16;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
