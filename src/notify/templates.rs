//! Message templates: every e-mail has a plain-text part and an HTML part. Values are inserted
//! as text; in the HTML part they are escaped, so a name or a teacher's message cannot inject
//! markup.

/// A rendered message, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Escape text for an HTML element or a quoted attribute.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One paragraph of a message: text that is escaped, or a link.
enum Part<'a> {
    Text(String),
    Link(&'a str),
}

/// Both parts from a greeting and paragraphs; the HTML keeps the text's line breaks.
fn render(subject: String, greeting: &str, parts: &[Part<'_>]) -> Rendered {
    let mut text = format!("{greeting}\n\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family: sans-serif; line-height: 1.5\">\n<p>{}</p>\n",
        escape(&subject),
        escape(greeting)
    );
    for part in parts {
        match part {
            Part::Text(t) => {
                text.push_str(t);
                text.push_str("\n\n");
                html.push_str("<p>");
                html.push_str(&escape(t).replace('\n', "<br>\n"));
                html.push_str("</p>\n");
            }
            Part::Link(url) => {
                text.push_str(url);
                text.push_str("\n\n");
                let url = escape(url);
                html.push_str(&format!("<p><a href=\"{url}\">{url}</a></p>\n"));
            }
        }
    }
    text.push_str("-- \nSent by rollcall, your school's attendance system.\n");
    html.push_str(
        "<p style=\"color: #666; font-size: small\">Sent by rollcall, your school's attendance system.</p>\n\
         </body></html>\n",
    );
    Rendered {
        subject,
        text,
        html,
    }
}

/// A student recorded absent when a session was confirmed.
#[must_use]
pub fn attendance_absent(
    name: &str,
    subject_name: &str,
    subject_code: &str,
    date: &str,
    slot: i64,
) -> Rendered {
    let period = if slot > 0 {
        format!(" (period {slot})")
    } else {
        String::new()
    };
    render(
        format!("Absent: {subject_name} ({subject_code}) on {date}"),
        &format!("Dear {name},"),
        &[
            Part::Text(format!(
                "you were recorded absent from {subject_name} ({subject_code}) on {date}{period}."
            )),
            Part::Text("If this is a mistake, please speak to your teacher.".into()),
        ],
    )
}

/// The seed's absence notification, sent by a teacher.
#[must_use]
pub fn absence(name: &str, subject: &str, date: &str, teacher: &str) -> Rendered {
    render(
        format!("Absence Notification - {subject}"),
        &format!("Dear {name},"),
        &[
            Part::Text(format!("you were marked absent from {subject} on {date}.")),
            Part::Text("If you believe this is a mistake, please contact your teacher.".to_owned()),
            Part::Text(format!("Regards,\n{teacher}")),
        ],
    )
}

/// The seed's low-attendance warning.
#[must_use]
pub fn low_attendance(name: &str, subject: &str, percentage: f64, threshold: i64) -> Rendered {
    render(
        format!("Low Attendance Warning - {subject}"),
        &format!("Dear {name},"),
        &[
            Part::Text(format!(
                "your attendance in {subject} is {percentage:.1}%, below the required {threshold}%."
            )),
            Part::Text(
                "Please attend your classes regularly and speak to your teacher if something \
                 keeps you away."
                    .to_owned(),
            ),
        ],
    )
}

/// The seed's assignment reminder.
#[must_use]
pub fn assignment(name: &str, title: &str, subject: &str, due: &str, teacher: &str) -> Rendered {
    render(
        format!("Assignment Reminder - {title}"),
        &format!("Dear {name},"),
        &[
            Part::Text(format!(
                "this is a reminder that the assignment \"{title}\" for {subject} is due on {due}."
            )),
            Part::Text(format!("Regards,\n{teacher}")),
        ],
    )
}

/// What an exam alert announces.
pub struct Exam<'a> {
    pub name: &'a str,
    pub subject: &'a str,
    pub date: &'a str,
    pub time: &'a str,
    pub venue: &'a str,
}

/// The seed's exam alert.
#[must_use]
pub fn exam(name: &str, e: &Exam<'_>) -> Rendered {
    render(
        format!("Exam Alert - {}", e.name),
        &format!("Dear {name},"),
        &[
            Part::Text(format!("{} for {} is scheduled:", e.name, e.subject)),
            Part::Text(format!(
                "Date: {}\nTime: {}\nVenue: {}",
                e.date, e.time, e.venue
            )),
            Part::Text("Good luck!".to_owned()),
        ],
    )
}

/// A teacher's own message; its title is the subject line.
#[must_use]
pub fn custom(name: &str, title: &str, body: &str, teacher: &str) -> Rendered {
    render(
        title.to_owned(),
        &format!("Dear {name},"),
        &[
            Part::Text(body.to_owned()),
            Part::Text(format!("Regards,\n{teacher}")),
        ],
    )
}

/// The link that verifies a new account's e-mail address.
#[must_use]
pub fn email_verification(name: &str, link: &str) -> Rendered {
    render(
        "Verify your rollcall account".to_owned(),
        &format!("Hello {name},"),
        &[
            Part::Text("open this link within 24 hours to verify your e-mail address:".into()),
            Part::Link(link),
        ],
    )
}

/// The link with which an account the school office created chooses its password.
#[must_use]
pub fn invitation(name: &str, email: &str, role: &str, link: &str, days: i64) -> Rendered {
    let within = if days == 1 {
        "1 day".to_owned()
    } else {
        format!("{days} days")
    };
    render(
        "Your rollcall account: choose your password".to_owned(),
        &format!("Hello {name},"),
        &[
            Part::Text(format!(
                "your school has created a rollcall account for you ({email}, {role}). \
                 Open this link within {within} to choose your password and sign in:"
            )),
            Part::Link(link),
            Part::Text(
                "The link works once. If it has run out, ask your school office for a new one."
                    .into(),
            ),
        ],
    )
}

/// A password reset code.
#[must_use]
pub fn password_reset(name: &str, code: &str) -> Rendered {
    render(
        "Your rollcall password reset code".to_owned(),
        &format!("Hello {name},"),
        &[
            Part::Text(format!(
                "your password reset code is {code}. It is valid for 10 minutes."
            )),
            Part::Text("If you did not ask for it, ignore this message.".into()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_html_and_kept_in_text() {
        let m = custom(
            "Ann <script>",
            "Trip & \"kit\"",
            "Bring <b>boots</b>\nand a coat",
            "T. O'Neil",
        );
        assert_eq!(m.subject, "Trip & \"kit\"");
        assert!(m.text.contains("Dear Ann <script>,"));
        assert!(m.text.contains("Bring <b>boots</b>\nand a coat"));
        assert!(!m.html.contains("<script>") && !m.html.contains("<b>"));
        assert!(m.html.contains("Ann &lt;script&gt;"));
        assert!(
            m.html
                .contains("Bring &lt;b&gt;boots&lt;/b&gt;<br>\nand a coat")
        );
        assert!(m.html.contains("<title>Trip &amp; &quot;kit&quot;</title>"));
        assert!(m.html.contains("T. O&#39;Neil"));
    }

    #[test]
    fn subjects_follow_the_seed() {
        assert_eq!(
            absence("A", "Maths", "2026-02-15", "T").subject,
            "Absence Notification - Maths"
        );
        assert_eq!(
            low_attendance("A", "Maths", 61.25, 75).subject,
            "Low Attendance Warning - Maths"
        );
        assert!(
            low_attendance("A", "Maths", 61.25, 75)
                .text
                .contains("61.2%")
        );
        assert_eq!(
            assignment("A", "Essay", "English", "Friday", "T").subject,
            "Assignment Reminder - Essay"
        );
        let e = Exam {
            name: "Midterm",
            subject: "Physics",
            date: "2026-03-01",
            time: "09:00",
            venue: "Hall <1>",
        };
        let m = exam("A", &e);
        assert_eq!(m.subject, "Exam Alert - Midterm");
        assert!(m.html.contains("Venue: Hall &lt;1&gt;"));
    }

    #[test]
    fn an_invitation_names_the_account_and_the_lifetime() {
        let m = invitation(
            "Ann <b>",
            "ann@school.test",
            "teacher",
            "http://x.test/app/#/invitation/abc",
            7,
        );
        assert!(m.text.contains("ann@school.test, teacher"));
        assert!(m.text.contains("within 7 days"));
        assert!(m.text.contains("\nhttp://x.test/app/#/invitation/abc\n"));
        assert!(m.html.contains("Ann &lt;b&gt;"));
        assert!(
            invitation("A", "a@b.c", "student", "l", 1)
                .text
                .contains("within 1 day ")
        );
    }

    #[test]
    fn links_are_clickable_and_escaped() {
        let m = email_verification("A", "http://x.test/verify?token=a&b=\"c\"");
        assert!(m.text.contains("http://x.test/verify?token=a&b=\"c\"\n"));
        assert!(
            m.html
                .contains("<a href=\"http://x.test/verify?token=a&amp;b=&quot;c&quot;\">")
        );
    }
}
