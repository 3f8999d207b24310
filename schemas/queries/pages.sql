-- Top pages: page views, visitors and engaged time per page path.
--
-- A page is the path of the page view's url (no scheme, host, query string
-- or fragment: /product/sku-101 whatever campaign tagged the link; / for a
-- url without a path). One row per page, the -limit pages with the most
-- views (ties by path): views (page views, each page_view_id once),
-- visitors (distinct), engaged_seconds (the sum of the page views' engaged
-- time) and avg_engaged_seconds (per view).
-- A page view's engaged time is its largest engaged_ms, so the last page of
-- a visit counts. The last row, 'Total', is every page of the range, not
-- only the top ones. A page view counts on the day of its first event in
-- the pixel's time zone.
--
-- Reads pixel.page_views, one row per page view whose states (first time,
-- url, largest engaged_ms) copies of an event do not change, so nothing is
-- counted twice (schemas/README.md, "Each event once"). Bots are left out
-- unless -bots 1.
--
-- param pixel String     the pixel's id
-- param from  Date       first day, inclusive (YYYY-MM-DD, the pixel's time zone)
-- param to    Date       last day, inclusive
-- param tz    String     the pixel's IANA time zone, e.g. Europe/Paris
-- param bots  UInt32 = 0 1 = include bots
-- param limit UInt32 = 20 how many pages
-- bind pixel, tz, from, to, bots, limit
SELECT page, views, visitors, engaged_seconds, avg_engaged_seconds
FROM
(
    SELECT
        g AS page,
        count() AS views,
        uniqExact(visitor_id) AS visitors,
        round(sum(pv_ms) / 1000, 1) AS engaged_seconds,
        round(avg(pv_ms) / 1000, 1) AS avg_engaged_seconds
    FROM
    (
        SELECT visitor_id, if(url_path = '', '/', url_path) AS p, pv_ms
        FROM
        (
            -- FINAL merges the rows of each page view as the background
            -- merges would, in key order, so each row is one page view:
            -- cheaper than a GROUP BY of every page view. Conditions on
            -- states stay outside it, so that they see merged states.
            SELECT
                visitor_id,
                path(finalizeAggregation(url)) AS url_path,
                finalizeAggregation(engaged_ms) AS pv_ms,
                finalizeAggregation(start_ts) AS pv_start,
                finalizeAggregation(is_bot) AS pv_bot
            FROM page_views FINAL
            WHERE pixel_id = ?
        )
        WHERE toDate(pv_start, ?) BETWEEN toDate(?) AND toDate(?) AND (? = 1 OR pv_bot = 0)
    )
    ARRAY JOIN [p, 'Total'] AS g
    GROUP BY g
    ORDER BY views DESC, page
    LIMIT ? BY page = 'Total'
)
ORDER BY page = 'Total', views DESC, page;
