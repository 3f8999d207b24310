package pixel

// IsBot reports whether a user agent is not a person's browser: a known
// crawler, a link-preview fetcher, a headless or automated browser, an HTTP
// library, anything that names itself a bot, crawler or spider or links to
// its documentation from its user agent as crawlers do, and the empty user
// agent. Such hits are flagged (is_bot), not dropped. The match ignores case
// and allocates nothing; it runs on every hit, so it hashes the three
// bytes at every other position of the user agent and compares tokens only
// where the hash says one could start (BenchmarkIsBot).
//
// Tokens that real browsers carry are left out on purpose: "Pinterest"
// alone (the Pinterest app's in-app browser says "[Pinterest/iOS]"; its
// crawler is Pinterestbot), "Electron" (desktop apps used by people). A
// bare "bot" counts only as crawlers write it, before '/', ';', ')', ',',
// '-' or at the end ("Googlebot/2.1", "PetalBot;"), and not in "CUBOT", a
// phone maker whose models appear in Android user agents.
func IsBot(userAgent []byte) bool {
	ua := userAgent
	if len(ua) == 0 {
		return true
	}
	// Every token is at least 4 bytes long, so one starting at p covers
	// the three bytes at p or at p+1, whichever is even: looking at the
	// three bytes at every other position is enough, when the table has
	// the hash of each token's bytes 0-2 and 1-3. Where a hash's bit is
	// set, a token may start there or one byte before.
	for i := 0; i+3 <= len(ua); i += 2 {
		b := ua[i : i+3 : i+3] // one bounds check for the three bytes
		x := uint32(b[0]|0x20)<<16 | uint32(b[1]|0x20)<<8 | uint32(b[2]|0x20)
		if h := trigramHash(x); botTrigrams[h>>6]&(1<<(h&63)) != 0 && (botAt(ua, i) || i > 0 && botAt(ua, i-1)) {
			return true
		}
	}
	// "bot" at the very end, the one token shorter than 4 bytes.
	n := len(ua)
	return n >= 3 && hasPrefixFold(ua[n-3:], "bot") && !(n >= 5 && hasPrefixFold(ua[n-5:], "cu"))
}

// Case folding is c|0x20: it maps A-Z to a-z, and a few bytes no token
// holds (control characters, @[\]^_ and bytes above 0xbf) onto others, at
// worst a false alarm on a malformed user agent. It leaves digits and the
// punctuation of tokens as they are, but for '_', which both sides fold
// alike.

// trigramHash maps three folded bytes to a bit of botTrigrams.
func trigramHash(x uint32) uint32 { return x * 0x9e3779b1 >> 16 }

// botAt reports whether a token starts at ua[at].
func botAt(ua []byte, at int) bool {
	for _, t := range botTokens[ua[at]|0x20] {
		if hasPrefixFold(ua[at:], t.text) && !(t.word && at >= 2 && hasPrefixFold(ua[at-2:], "cu")) {
			return true
		}
	}
	return false
}

// botWords are the generic "bot" as crawlers end their names with it.
var botWords = []string{"bot/", "bot;", "bot)", "bot,", "bot-"}

// botTokenList is every token IsBot looks for, in lower case.
var botTokenList = []string{
	// Search and AI crawlers (most also match the generic rules; named here
	// so that the list documents what is known).
	"googlebot", "adsbot-google", "mediapartners-google", "apis-google", "feedfetcher-google",
	"google-inspectiontool", "googleother", "google-read-aloud", "storebot-google",
	"bingbot", "bingpreview", "msnbot", "adidxbot", "applebot", "duckduckbot", "duckassistbot",
	"yandexbot", "yandex.com/bots", "baiduspider", "sogou", "exabot", "seznambot", "yahoo! slurp",
	"ahrefsbot", "semrushbot", "mj12bot", "dotbot", "petalbot", "bytespider", "amazonbot",
	"gptbot", "chatgpt-user", "oai-searchbot", "claudebot", "claude-web", "anthropic-ai",
	"ccbot", "perplexitybot", "meta-externalagent", "facebookcatalog", "ia_archiver",
	"archive.org_bot", "dataforseobot", "blexbot",
	// Link-preview fetchers.
	"facebookexternalhit", "facebot", "twitterbot", "slackbot", "slack-imgproxy", "linkedinbot",
	"discordbot", "telegrambot", "whatsapp", "skypeuripreview", "pinterestbot", "redditbot",
	"embedly", "vkshare", "quora link preview", "iframely", "tumblr/",
	// Headless and automated browsers, page-speed testers and monitors.
	"headlesschrome", "phantomjs", "puppeteer", "playwright", "lighthouse", "selenium",
	"webdriver", "ptst/", "gtmetrix", "pingdom", "statuscake", "uptimerobot",
	// HTTP libraries and command-line clients.
	"curl/", "wget", "python-requests", "python-urllib", "python-httpx", "aiohttp",
	"go-http-client", "okhttp", "axios", "node-fetch", "undici", "java/", "libwww-perl",
	"apache-httpclient", "guzzlehttp", "httpie", "postmanruntime", "insomnia", "scrapy",
	// What crawlers have in common: their kind in their name, a link to
	// their documentation.
	"crawler", "spider", "+http", "http://", "https://",
}

// botToken is a token and whether it is the generic "bot/" (and the like),
// which does not count in "CUBOT".
type botToken struct {
	text string
	word bool
}

var (
	// botTokens lists the tokens by their folded first byte.
	botTokens [256][]botToken
	// botTrigrams has the bits of the hashes of each token's bytes 0-2
	// and 1-3, folded: 8 KiB, small enough to stay in the L1 cache, and
	// sparse enough that a browser's user agent hits it rarely.
	botTrigrams [1 << 16 / 64]uint64
)

func init() {
	add := func(t botToken) {
		if len(t.text) < 4 {
			panic("pixel: bot token " + t.text + " is shorter than IsBot's 4 bytes")
		}
		botTokens[t.text[0]|0x20] = append(botTokens[t.text[0]|0x20], t)
		for _, b := range [2]string{t.text[0:3], t.text[1:4]} {
			h := trigramHash(uint32(b[0]|0x20)<<16 | uint32(b[1]|0x20)<<8 | uint32(b[2]|0x20))
			botTrigrams[h>>6] |= 1 << (h & 63)
		}
	}
	for _, t := range botTokenList {
		add(botToken{text: t})
	}
	for _, t := range botWords {
		add(botToken{text: t, word: true})
	}
}

// hasPrefixFold reports whether b starts with prefix, both folded.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if b[i]|0x20 != prefix[i]|0x20 {
			return false
		}
	}
	return true
}
