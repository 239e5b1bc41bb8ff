/**
 * The toolkit's one CSV reader and writer (RFC 4180: quoted cells, doubled quotes, CRLF, line
 * breaks inside quotes). The reader is linear in the input, keeps each record's line number for
 * error messages and reports an unclosed quote with the line where it opened.
 * @module
 */

/** RFC 4180: a cell with a comma, quote or line break is quoted, inner quotes doubled. */
export function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV record from cells (each quoted where needed), without the line break. */
export function csvRecord(cells: readonly string[]): string {
  return cells.map(csvCell).join(",");
}

/** One CSV record with the 1-based line it starts on. */
export interface CsvRow {
  /** The cells, unquoted, not trimmed. */
  cells: string[];
  /** Line of the file the record starts on (a quoted cell may span several lines). */
  line: number;
}

/** Number of line breaks (CRLF, LF or a lone CR) in `s`. */
export function countLineBreaks(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || (c === 13 && s.charCodeAt(i + 1) !== 10)) n++;
  }
  return n;
}

/** Index of the next `,`, CR or LF at or after `i`, or the text's length. */
function nextDelimiter(text: string, i: number): number {
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 44 || c === 10 || c === 13) return i;
  }
  return i;
}

/**
 * Parses CSV text (RFC 4180: quoted fields, doubled quotes, CRLF) into records with the line each
 * starts on. Blank lines are dropped. A quote opens a quoted cell only at the start of a cell;
 * elsewhere it is a literal character, and text after a closing quote is kept as part of the cell.
 * The parser is linear in the length of the text (each character is looked at a bounded number
 * of times), so no input can make it hang.
 * @param source what to call the text in errors, e.g. `manifest data/x.csv`
 * @throws an Error `<source>:<line>: unclosed quote …` naming the line where the quote opened,
 *   since every following row would otherwise be swallowed into one cell
 */
export function parseCsvRows(text: string, source = "CSV text"): CsvRow[] {
  const rows: CsvRow[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  let row: string[] = [];
  let rowLine = 1;
  const endRow = () => {
    if (row.length > 1 || row[0] !== "") rows.push({ cells: row, line: rowLine });
    row = [];
  };
  // Each pass reads one cell and the delimiter after it.
  while (true) {
    let cell: string;
    if (text.charCodeAt(i) === 34) {
      const openLine = line;
      const parts: string[] = [];
      i++;
      while (true) {
        const j = text.indexOf('"', i);
        if (j < 0) {
          throw new Error(
            `${source}:${openLine}: unclosed quote: the quoted cell opened on this line never ` +
              `ends, so the rest of the file cannot be read; close it, or write a literal quote ` +
              `inside a quoted cell as ""`,
          );
        }
        const segment = text.slice(i, j);
        line += countLineBreaks(segment);
        parts.push(segment);
        if (text.charCodeAt(j + 1) === 34) {
          parts.push('"');
          i = j + 2;
        } else {
          i = j + 1;
          break;
        }
      }
      const k = nextDelimiter(text, i);
      cell = parts.join("") + text.slice(i, k);
      i = k;
    } else {
      const k = nextDelimiter(text, i);
      cell = text.slice(i, k);
      i = k;
    }
    row.push(cell);
    if (i >= n) break;
    if (text.charCodeAt(i) === 44) {
      i++;
      continue;
    }
    i += text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10 ? 2 : 1;
    line++;
    endRow();
    rowLine = line;
  }
  endRow();
  return rows;
}

/**
 * Parses CSV text into rows of cells; see {@link parseCsvRows}, which also gives each row's line.
 * @throws an Error naming `source` and the line of an unclosed quote
 */
export function parseCsv(text: string, source = "CSV text"): string[][] {
  return parseCsvRows(text, source).map((r) => r.cells);
}
