-- Top pages: page views, visitors and engaged time per page path.
--
-- A page is the path of the page view's url (no scheme, host, query string
-- or fragment: /product/sku-101 whatever campaign tagged the link; / for
-- a url without a path). One row
-- per page, the -limit pages with the most views (ties by path): views (page
-- views, each page_view_id once), visitors (distinct), engaged_seconds (the
-- sum of the page views' engaged time) and avg_engaged_seconds (per view).
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
        round(sum(engaged_ms) / 1000, 1) AS engaged_seconds,
        round(avg(engaged_ms) / 1000, 1) AS avg_engaged_seconds
    FROM
    (
        SELECT
            visitor_id,
            path(argMinMerge(url)) AS url_path,
            if(url_path = '', '/', url_path) AS p,
            maxMerge(engaged_ms) AS engaged_ms
        FROM page_views
        WHERE pixel_id = ?
        GROUP BY visitor_id, session_id, page_view_id
        HAVING toDate(minMerge(start_ts), ?) BETWEEN toDate(?) AND toDate(?) AND (? = 1 OR maxMerge(is_bot) = 0)
    )
    ARRAY JOIN [p, 'Total'] AS g
    GROUP BY g
    ORDER BY views DESC, page
    LIMIT ? BY page = 'Total'
)
ORDER BY page = 'Total', views DESC, page;
