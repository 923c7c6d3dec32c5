-- Assessment results of former members per assessment and ten-point score band (scores 0-100), with
-- the mean score of the band's results. Cells of fewer than 5 members are hidden.
select
    assessment_code,
    score_band,
    sum(results) as results,
    round(sum(score_avg * results) / nullif(sum(results) filter (where score_avg is not null), 0), 2) as score_avg
from published.assessment_results
group by assessment_code, score_band
order by assessment_code, score_band;
