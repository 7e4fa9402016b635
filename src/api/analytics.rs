//! `/api/analytics` (the seed's paths and field names, plus students at risk and a student's
//! own figures): teachers see their own subjects, administrators every subject, a student only
//! themselves. Percentages are computed from counts and rounded to two decimals here, at the
//! edge; `null` where nothing was counted (only excused records, or none).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Detail};
use super::extract::{ApiQuery, AuthUser, PathId, Staff, Student};
use super::{AppState, parse_id};
use crate::domain::Id;
use crate::domain::attendance::Counts;
use crate::service::Error;
use crate::service::analytics::{self, Rules, SubjectTotals, round2};
use crate::service::schedule::parse_date;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(attendance_trend))
        .routes(routes!(monthly_summary))
        .routes(routes!(class_risk))
        .routes(routes!(global))
        .routes(routes!(students_at_risk))
        .routes(routes!(student))
        .routes(routes!(mine))
}

/// The figures' rules from the settings (also for the seed's roster and student routes).
pub(crate) fn rules(state: &AppState) -> Rules {
    Rules {
        late_counts: state.settings.late_counts_as_present,
        threshold: state.settings.risk_threshold,
    }
}

/// A required `YYYY-MM-DD` query date, as the seed words its error.
fn date(raw: &str) -> Result<String, Error> {
    let raw = raw.trim();
    parse_date(raw)
        .map(|_| raw.to_owned())
        .ok_or_else(|| Error::BadRequest("Invalid date format. Use YYYY-MM-DD".into()))
}

/// An optional id: absent or empty is `None`.
fn optional_id(field: &str, raw: Option<&str>) -> Result<Option<Id>, Error> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_id(field, s))
        .transpose()
}

fn total(c: &Counts) -> i64 {
    c.total()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// The subject's id.
    #[param(value_type = Id)]
    pub class_id: String,
    /// First day, `YYYY-MM-DD` (inclusive).
    pub date_from: String,
    /// Last day, `YYYY-MM-DD` (inclusive); not before `dateFrom`.
    pub date_to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendPoint {
    pub date: String,
    pub present: i64,
    pub absent: i64,
    pub late: i64,
    pub excused: i64,
    /// Records that day (every status).
    pub total: i64,
    /// Sessions held that day (a subject may meet more than once).
    pub sessions: i64,
    /// Attended / (total − excused) × 100, two decimals; null when only excused records.
    pub percentage: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrendResponse {
    #[schema(value_type = Id)]
    pub class_id: String,
    pub date_from: String,
    pub date_to: String,
    /// Days with sessions, oldest first; holidays and exam days are left out.
    pub data: Vec<TrendPoint>,
}

/// A subject's attendance per day between two dates (teachers of the subject, administrators).
/// Bad dates: 400 `Invalid date format. Use YYYY-MM-DD`; `dateFrom` after `dateTo`: 422; a
/// range without sessions: 200 with empty `data`.
#[utoipa::path(get, path = "/attendance-trend", tag = "analytics", params(TrendQuery),
    responses((status = 200, body = TrendResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn attendance_trend(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> ApiResult<Json<TrendResponse>> {
    let (from, to) = (date(&q.date_from)?, date(&q.date_to)?);
    if from > to {
        return Err(Error::Invalid("dateFrom must not be after dateTo".into()).into());
    }
    let subject = parse_id("classId", q.class_id.trim())?;
    let rules = rules(&state);
    let days =
        analytics::trend(&state.db, &user, subject.clone(), from.clone(), to.clone()).await?;
    Ok(Json(TrendResponse {
        class_id: subject.to_string(),
        date_from: from,
        date_to: to,
        data: days
            .into_iter()
            .map(|d| TrendPoint {
                percentage: rules.percentage(&d.counts),
                present: d.counts.present,
                absent: d.counts.absent,
                late: d.counts.late,
                excused: d.counts.excused,
                total: total(&d.counts),
                sessions: d.sessions,
                date: d.date,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MonthlyQuery {
    /// One subject; by default every subject the caller teaches (administrators: all).
    #[param(value_type = Option<Id>)]
    pub class_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyRow {
    #[schema(value_type = Id)]
    pub class_id: String,
    /// `YYYY-MM`.
    pub month: String,
    pub total_present: i64,
    pub total_absent: i64,
    pub total_late: i64,
    pub total_excused: i64,
    /// Student-sessions recorded (every status), as the seed's `totalStudents`.
    pub total_students: i64,
    /// Days with at least one session.
    pub days_recorded: i64,
    pub sessions_recorded: i64,
    /// Attended / (total − excused) × 100 over the month (a weighted ratio, not a mean of
    /// daily figures), two decimals; null when nothing counted.
    pub average_percentage: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthlyResponse {
    /// Newest month first, then by subject id.
    pub data: Vec<MonthlyRow>,
}

/// Totals per subject and month (teachers: their subjects; administrators: all).
#[utoipa::path(get, path = "/monthly-summary", tag = "analytics", params(MonthlyQuery),
    responses((status = 200, body = MonthlyResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn monthly_summary(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiQuery(q): ApiQuery<MonthlyQuery>,
) -> ApiResult<Json<MonthlyResponse>> {
    let subject = optional_id("classId", q.class_id.as_deref())?;
    let rules = rules(&state);
    let months = analytics::monthly(&state.db, &user, subject).await?;
    Ok(Json(MonthlyResponse {
        data: months
            .into_iter()
            .map(|m| MonthlyRow {
                class_id: m.subject_id.to_string(),
                month: m.month,
                total_present: m.counts.present,
                total_absent: m.counts.absent,
                total_late: m.counts.late,
                total_excused: m.counts.excused,
                total_students: total(&m.counts),
                days_recorded: m.days,
                sessions_recorded: m.sessions,
                average_percentage: rules.percentage(&m.counts),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassRiskRow {
    #[schema(value_type = Id)]
    pub class_id: String,
    pub class_name: String,
    pub class_code: String,
    pub attendance_percentage: f64,
    pub total_present: i64,
    pub total_absent: i64,
    pub total_late: i64,
    pub total_excused: i64,
    pub total_students: i64,
    pub days_recorded: i64,
    /// Newest day with a session.
    pub last_recorded: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClassRiskResponse {
    /// `ROLLCALL_RISK_THRESHOLD`: a percentage strictly below it is at risk.
    pub threshold: f64,
    /// Lowest percentage first.
    pub data: Vec<ClassRiskRow>,
}

/// Subjects whose attendance over all their sessions is below the risk threshold (teachers:
/// their subjects; administrators: all). Subjects without counted sessions are not listed.
#[utoipa::path(get, path = "/class-risk", tag = "analytics",
    responses((status = 200, body = ClassRiskResponse), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn class_risk(
    State(state): State<AppState>,
    Staff(user): Staff,
) -> ApiResult<Json<ClassRiskResponse>> {
    let rules = rules(&state);
    let list = analytics::class_risk(&state.db, rules, &user).await?;
    Ok(Json(ClassRiskResponse {
        threshold: rules.threshold,
        data: list
            .into_iter()
            .map(|t| ClassRiskRow {
                attendance_percentage: rules.percentage(&t.counts).unwrap_or_default(),
                class_id: t.subject.id.to_string(),
                class_name: t.subject.name,
                class_code: t.subject.code,
                total_present: t.counts.present,
                total_absent: t.counts.absent,
                total_late: t.counts.late,
                total_excused: t.counts.excused,
                total_students: total(&t.counts),
                days_recorded: t.days,
                last_recorded: t.last,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectFigure {
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub subject_name: String,
    pub subject_code: String,
    /// Null when the subject has no counted session.
    pub attendance_percentage: Option<f64>,
    pub total_present: i64,
    pub total_absent: i64,
    pub total_late: i64,
    pub total_excused: i64,
    pub total_students: i64,
    pub days_recorded: i64,
    pub at_risk: bool,
}

fn figure(rules: Rules, t: SubjectTotals) -> SubjectFigure {
    SubjectFigure {
        attendance_percentage: rules.percentage(&t.counts),
        at_risk: rules.at_risk(&t.counts),
        subject_id: t.subject.id.to_string(),
        subject_name: t.subject.name,
        subject_code: t.subject.code,
        total_present: t.counts.present,
        total_absent: t.counts.absent,
        total_late: t.counts.late,
        total_excused: t.counts.excused,
        total_students: total(&t.counts),
        days_recorded: t.days,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GlobalResponse {
    /// Mean of the subjects' percentages (subjects with counted sessions), two decimals; null
    /// without any.
    pub overall_attendance: Option<f64>,
    /// Subjects below the threshold.
    pub risk_count: usize,
    pub threshold: f64,
    /// Every subject, highest percentage first, subjects without data last.
    pub top_subjects: Vec<SubjectFigure>,
}

/// The calling teacher's overview (an administrator's: the whole school's).
#[utoipa::path(get, path = "/global", tag = "analytics",
    responses((status = 200, body = GlobalResponse), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn global(
    State(state): State<AppState>,
    Staff(user): Staff,
) -> ApiResult<Json<GlobalResponse>> {
    let rules = rules(&state);
    let o = analytics::overview(&state.db, rules, &user).await?;
    Ok(Json(GlobalResponse {
        overall_attendance: o.overall.map(round2),
        risk_count: o.at_risk,
        threshold: rules.threshold,
        top_subjects: o.subjects.into_iter().map(|t| figure(rules, t)).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StudentRisk {
    #[schema(value_type = Id)]
    pub student_id: String,
    pub name: String,
    pub roll: String,
    pub attendance_percentage: f64,
    pub present: i64,
    pub late: i64,
    pub excused: i64,
    pub absent: i64,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StudentsAtRiskResponse {
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub threshold: f64,
    /// Enrolled students below the threshold, lowest first.
    pub data: Vec<StudentRisk>,
}

/// A subject's enrolled students whose own attendance is below the risk threshold (teachers of
/// the subject, administrators).
#[utoipa::path(get, path = "/subjects/{id}/students-at-risk", tag = "analytics",
    params(("id" = Id, Path)),
    responses((status = 200, body = StudentsAtRiskResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn students_at_risk(
    State(state): State<AppState>,
    Staff(user): Staff,
    PathId(id): PathId,
) -> ApiResult<Json<StudentsAtRiskResponse>> {
    let subject = id;
    let rules = rules(&state);
    let list = analytics::students_at_risk(&state.db, rules, &user, subject.clone()).await?;
    Ok(Json(StudentsAtRiskResponse {
        subject_id: subject.to_string(),
        threshold: rules.threshold,
        data: list
            .into_iter()
            .map(|s| StudentRisk {
                attendance_percentage: rules.percentage(&s.counts).unwrap_or_default(),
                student_id: s.student_id.to_string(),
                name: s.name,
                roll: s.roll,
                present: s.counts.present,
                late: s.counts.late,
                excused: s.counts.excused,
                absent: s.counts.absent,
                total: total(&s.counts),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StudentSubject {
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub subject_name: String,
    pub subject_code: String,
    pub present: i64,
    pub late: i64,
    pub excused: i64,
    pub absent: i64,
    pub total: i64,
    /// Null when nothing counted yet.
    pub attendance_percentage: Option<f64>,
    pub at_risk: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StudentAnalytics {
    #[schema(value_type = Id)]
    pub student_id: String,
    pub name: String,
    pub threshold: f64,
    /// Over every subject listed: attended / (total − excused), two decimals; null when
    /// nothing counted.
    pub overall_percentage: Option<f64>,
    /// Enrolled subjects by code (a teacher sees the subjects they teach the student).
    pub subjects: Vec<StudentSubject>,
}

async fn student_analytics(
    state: &AppState,
    user: &AuthUser,
    student: Id,
) -> ApiResult<Json<StudentAnalytics>> {
    let rules = rules(state);
    let view = analytics::student(&state.db, user, student).await?;
    let mut all = Counts::default();
    for (_, c) in &view.subjects {
        all.present += c.present;
        all.late += c.late;
        all.excused += c.excused;
        all.absent += c.absent;
    }
    Ok(Json(StudentAnalytics {
        student_id: view.student_id.to_string(),
        name: view.name,
        threshold: rules.threshold,
        overall_percentage: rules.percentage(&all),
        subjects: view
            .subjects
            .into_iter()
            .map(|(s, c)| StudentSubject {
                subject_id: s.id.to_string(),
                subject_name: s.name,
                subject_code: s.code,
                present: c.present,
                late: c.late,
                excused: c.excused,
                absent: c.absent,
                total: total(&c),
                attendance_percentage: rules.percentage(&c),
                at_risk: rules.at_risk(&c),
            })
            .collect(),
    }))
}

/// A student's figures per enrolled subject (the student themselves, administrators, and
/// teachers for the subjects they teach the student).
#[utoipa::path(get, path = "/students/{id}", tag = "analytics",
    params(("id" = Id, Path)),
    responses((status = 200, body = StudentAnalytics), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn student(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<StudentAnalytics>> {
    student_analytics(&state, &user, id).await
}

/// The calling student's own figures per enrolled subject.
#[utoipa::path(get, path = "/me", tag = "analytics", operation_id = "my_analytics",
    responses((status = 200, body = StudentAnalytics), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn mine(
    State(state): State<AppState>,
    Student(user): Student,
) -> ApiResult<Json<StudentAnalytics>> {
    let id = user.id.clone();
    student_analytics(&state, &user, id).await
}
