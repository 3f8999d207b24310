package pixel

import (
	"strings"
	"testing"
)

// Real user agents, as their senders document or send them.
var botUAs = []string{
	"",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"AdsBot-Google (+http://www.google.com/adsbot.html)",
	"Mediapartners-Google",
	"Mozilla/5.0 (compatible; Google-InspectionTool/1.0)",
	"GoogleOther",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
	"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
	"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
	"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
	"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
	"CCBot/2.0 (https://commoncrawl.org/faq/)",
	"Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
	"Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
	"Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
	"Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
	"Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 8_3 like Mac OS X) AppleWebKit/600.1.4 (KHTML, like Gecko) Version/8.0 Mobile/12F70 Safari/600.1.4 (compatible; Laserlikebot/0.1)",
	"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
	"facebookexternalhit/1.1",
	"Facebot",
	"meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
	"Twitterbot/1.0",
	"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
	"Slackbot 1.0 (+https://api.slack.com/robots)",
	"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
	"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
	"TelegramBot (like TwitterBot)",
	"WhatsApp/2.23.20.0 A",
	"Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
	"Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
	"Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
	"Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
	"Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36",
	"Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Puppeteer",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Playwright/1.49",
	"Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36 Selenium",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 PTST/241107.161232",
	"curl/8.5.0",
	"Wget/1.21.4",
	"python-requests/2.32.3",
	"Python-urllib/3.12",
	"python-httpx/0.27.0",
	"Go-http-client/1.1",
	"Go-http-client/2.0",
	"okhttp/4.12.0",
	"axios/1.7.7",
	"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
	"Java/17.0.9",
	"libwww-perl/6.72",
	"Apache-HttpClient/4.5.14 (Java/17.0.9)",
	"PostmanRuntime/7.42.0",
	"Scrapy/2.11.2 (+https://scrapy.org)",
	"Mozilla/5.0 (compatible; SomeNewCrawler/1.0)",
	"Mozilla/5.0 (compatible; examplebot)",
	"Mozilla/5.0 (compatible; Konturbot/1.0)",
	"UptimeRobot/2.0",
}

// Real browsers, in-app browsers and apps people use: never bots.
var humanUAs = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 YaBrowser/24.12.0.0 Safari/537.36",
	"Mozilla/5.0 (Linux; Android 9; CUBOT_X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; CUBOT KING KONG 5 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 12; CUBOT) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/490.0.0.0.40;]",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 357.0.0.25.101 (iPhone15,2; iOS 18_1; en_US; en; scale=3.00; 1179x2556; 123456789)",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 [Pinterest/Android]",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.30.1",
	"Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 musical_ly_2023708030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/37.8.3 ByteLocale/en ByteFullLocale/en Region/GB",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.41.105 Chrome/130.0.6723.137 Electron/33.2.0 Safari/537.36 Sonic Slack_SSB/4.41.105",
	"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15",
	"Mozilla/5.0 (Linux; Android 10; SMART TV Build/QP1A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Linux; Android 11; Robotics Lab Tablet) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36",
}

func TestIsBot(t *testing.T) {
	for _, ua := range botUAs {
		if !IsBot([]byte(ua)) {
			t.Errorf("IsBot(%q) = false, want true", ua)
		}
		// Case does not matter.
		if !IsBot([]byte(strings.ToUpper(ua))) || !IsBot([]byte(strings.ToLower(ua))) {
			t.Errorf("IsBot of %q in another case = false", ua)
		}
	}
	for _, ua := range humanUAs {
		if IsBot([]byte(ua)) {
			t.Errorf("IsBot(%q) = true, want false", ua)
		}
	}
}

// TestIsBotTokens checks every listed token on its own and inside a
// browser's user agent, so that none is unreachable through the pair table.
func TestIsBotTokens(t *testing.T) {
	for _, tok := range append(botTokenList, botWords...) {
		// At even and odd positions, at the start and at the end.
		for _, ua := range []string{tok, strings.ToUpper(tok), humanUAs[0] + " " + tok, humanUAs[0] + "  " + tok, "x" + tok + "y", "xx" + tok + "yy"} {
			if !IsBot([]byte(ua)) {
				t.Errorf("IsBot(%q) = false", ua)
			}
		}
	}
}

func TestIsBotGenericWord(t *testing.T) {
	for ua, want := range map[string]bool{
		"bot": true, "ExampleBot": true, "x examplebot": true, "Examplebot/1.0": true, "(examplebot;": true,
		"cubot": false, "CUBOT": false, "Android 9; CUBOT)": false, "CUBOT/1": false, "robot arm": false,
		"bots": false, "abbot y": false, "a": false, "bo": false,
	} {
		if got := IsBot([]byte(ua)); got != want {
			t.Errorf("IsBot(%q) = %v, want %v", ua, got, want)
		}
	}
}

func TestIsBotAllocations(t *testing.T) {
	ua := []byte(humanUAs[0])
	if n := testing.AllocsPerRun(100, func() { IsBot(ua) }); n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}

func BenchmarkIsBot(b *testing.B) {
	for _, bc := range []struct{ name, ua string }{
		{"chrome", humanUAs[0]},
		{"iphone", humanUAs[6]},
		{"googlebot", botUAs[2]},
	} {
		ua := []byte(bc.ua)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(ua)))
			b.ReportAllocs()
			for b.Loop() {
				IsBot(ua)
			}
		})
	}
}

func FuzzIsBot(f *testing.F) {
	for _, ua := range append(botUAs, humanUAs...) {
		f.Add(ua)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := IsBot([]byte(ua))
		// A slow but obvious oracle for the plain tokens: one of them in
		// the lower-cased user agent is always a bot.
		lowered := []byte(ua)
		for i, c := range lowered {
			if 'A' <= c && c <= 'Z' {
				lowered[i] = c + 'a' - 'A'
			}
		}
		lower := string(lowered)
		for _, tok := range botTokenList {
			if strings.Contains(lower, tok) && !got {
				t.Fatalf("IsBot(%q) = false, but it contains %q", ua, tok)
			}
		}
		for _, tok := range botWords {
			if i := strings.Index(lower, tok); i >= 0 && !strings.Contains(lower, "cu"+tok) && !got {
				t.Fatalf("IsBot(%q) = false, but it contains %q", ua, tok)
			}
		}
		if ua == "" && !got {
			t.Fatal("empty user agent is not a bot")
		}
	})
}
